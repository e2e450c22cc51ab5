"""Tests of the Usher Python SDK against a real server.

The Go test sdk/python/python_test.go starts the server and runs these
tests with USHER_TEST_SERVER (host:port of a server granting one seat of
"cad", two of "cam", and three of "sec" in Licensee Secret client mode), USHER_TEST_ADMIN_TOKEN and USHER_TEST_CONTROL (a
URL whose POST /restart restarts the server). Without them, they skip.
"""

from __future__ import annotations

import json
import os
import threading
import time
import unittest
import urllib.request
from typing import Any, Callable, List, Optional

import usher

SERVER = os.environ.get("USHER_TEST_SERVER", "")
ADMIN = os.environ.get("USHER_TEST_ADMIN_TOKEN", "")
CONTROL = os.environ.get("USHER_TEST_CONTROL", "")
TLS_SERVER = os.environ.get("USHER_TEST_TLS_SERVER", "")
TLS_FINGERPRINT = os.environ.get("USHER_TEST_TLS_FINGERPRINT", "")


def admin(method: str, path: str, body: Optional[dict] = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://" + SERVER + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + ADMIN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def server_leases() -> List[dict]:
    return admin("GET", "/v1/leases")["leases"]


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll cond until it holds, failing after timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout}s")
        time.sleep(0.02)  # polling, bounded by the deadline


@unittest.skipUnless(SERVER and ADMIN, "USHER_TEST_SERVER and USHER_TEST_ADMIN_TOKEN name a test server")
class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.clients: List[usher.Client] = []

    def tearDown(self) -> None:
        for c in self.clients:
            c.close()
        wait_for("no lease left on the server", lambda: server_leases() == [])

    def client(self, **kw: Any) -> usher.Client:
        c = usher.Client(kw.pop("servers", SERVER), **kw)
        self.clients.append(c)
        return c

    def test_checkout_heartbeat_release(self) -> None:
        c = self.client(client_id="py-1")
        lease = c.checkout("cad")
        self.assertTrue(lease.alive)
        self.assertEqual([l["client"]["id"] for l in server_leases()], ["py-1"])
        first = server_leases()[0]["last_heartbeat"]
        wait_for("a heartbeat", lambda: server_leases()[0]["last_heartbeat"] != first)
        lease.release()
        self.assertFalse(lease.alive)
        self.assertEqual(server_leases(), [])

    def test_no_seats(self) -> None:
        self.client(client_id="py-a").checkout("cad")
        with self.assertRaises(usher.UsherError) as ctx:
            self.client(client_id="py-b").checkout("cad")
        self.assertEqual(ctx.exception.code, usher.NO_SEATS)

    def test_unknown_feature(self) -> None:
        with self.assertRaises(usher.UsherError) as ctx:
            self.client().checkout("no-such-feature")
        self.assertEqual(ctx.exception.code, usher.FEATURE_NOT_FOUND)

    def test_wait_in_line(self) -> None:
        held = self.client(client_id="py-holder").checkout("cad")
        got: List[usher.Lease] = []
        waiter = threading.Thread(target=lambda: got.append(self.client(client_id="py-waiter").checkout("cad", wait=10)))
        waiter.start()
        wait_for("the waiter in line", lambda: admin("GET", "/v1/queue")["waiters"] != [])
        held.release()
        waiter.join(15)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].alive)

    def test_failover(self) -> None:
        c = self.client(servers=["127.0.0.1:1", SERVER], client_id="py-failover")
        lease = c.checkout("cam")
        self.assertEqual(lease.server, "http://" + SERVER)

    def test_unavailable(self) -> None:
        c = self.client(servers="127.0.0.1:1", retry_timeout=0.3)
        with self.assertRaises(usher.UsherError) as ctx:
            c.checkout("cad")
        self.assertEqual(ctx.exception.code, usher.UNAVAILABLE)

    def test_bad_address(self) -> None:
        with self.assertRaises(usher.UsherError) as ctx:
            usher.Client("ftp://x")
        self.assertEqual(ctx.exception.code, usher.INVALID)

    def test_recheckout_after_kick(self) -> None:
        lease = self.client(client_id="py-kicked").checkout("cam")
        old = lease.id
        admin("POST", "/v1/admin/kick", {"lease_id": old})
        wait_for("a new lease after the kick", lambda: lease.id != old)
        self.assertTrue(lease.alive)
        self.assertEqual([l["id"] for l in server_leases()], [lease.id])

    def test_lost_callback(self) -> None:
        lease = self.client(client_id="py-lost").checkout("cad")
        lost: List[usher.UsherError] = []
        lease.on_lost(lost.append)
        admin("POST", "/v1/admin/kick", {"lease_id": lease.id})
        admin("POST", "/v1/leases", {"feature": "cad", "client": {"id": "py-thief"}})
        wait_for("the lost callback", lambda: lost != [])
        self.assertEqual(lost[0].code, usher.NO_SEATS)
        self.assertFalse(lease.alive)
        lease.release()  # an ended lease releases without error
        thief = [l["id"] for l in server_leases()]
        admin("DELETE", "/v1/leases/" + thief[0])

    @unittest.skipUnless(CONTROL, "USHER_TEST_CONTROL restarts the server")
    def test_hold_across_restart(self) -> None:
        lease = self.client(client_id="py-restart").checkout("cad")
        urllib.request.urlopen(urllib.request.Request(CONTROL + "/restart", method="POST"), timeout=30).read()
        restarted = time.time()

        def heartbeated() -> bool:
            leases = server_leases()
            return len(leases) == 1 and usher.transport.parse_time(leases[0]["last_heartbeat"]) > restarted

        wait_for("a heartbeat after the restart", heartbeated)
        self.assertTrue(lease.alive)
        lease.release()

    def test_licensee_secret(self) -> None:
        # "sec" is granted by a license in Licensee Secret client mode: the
        # first secret presented binds it.
        self.client(client_id="py-secret-1", licensee_secret="alpha").checkout("sec")
        self.client(client_id="py-secret-2", licensee_secret="alpha").checkout("sec")
        with self.assertRaises(usher.UsherError) as ctx:
            self.client(client_id="py-secret-3", licensee_secret="beta").checkout("sec")
        self.assertEqual(ctx.exception.code, "licensee_secret_mismatch")

    def test_context_managers(self) -> None:
        with usher.Client(SERVER, client_id="py-with") as c:
            with c.checkout("cad") as lease:
                self.assertEqual(len(server_leases()), 1)
            self.assertFalse(lease.alive)
            self.assertEqual(server_leases(), [])
            c.checkout("cam")
        self.assertEqual(server_leases(), [])


@unittest.skipUnless(TLS_SERVER and TLS_FINGERPRINT, "USHER_TEST_TLS_SERVER and USHER_TEST_TLS_FINGERPRINT name a server with a self-signed certificate")
class PinnedTLSTest(unittest.TestCase):
    def test_pinned_certificate(self) -> None:
        with usher.Client(TLS_SERVER, tls_fingerprint=TLS_FINGERPRINT, client_id="py-tls") as c:
            lease = c.checkout("cad")
            self.assertTrue(lease.alive)
            lease.release()

    def test_other_certificate(self) -> None:
        with usher.Client(TLS_SERVER, tls_fingerprint="sha256:" + "00" * 32, retry_timeout=0.3) as c:
            with self.assertRaises(usher.UsherError) as ctx:
                c.checkout("cad")
        self.assertEqual(ctx.exception.code, usher.UNAVAILABLE)
        self.assertIn("not the pinned one", ctx.exception.message)

    def test_bad_fingerprint(self) -> None:
        with self.assertRaises(usher.UsherError) as ctx:
            usher.Client(TLS_SERVER, tls_fingerprint="not hex")
        self.assertEqual(ctx.exception.code, usher.INVALID)


if __name__ == "__main__":
    unittest.main()
