"""The Usher client and its leases."""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import transport
from .tlspin import PinnedHTTPSHandler
from .errors import INVALID, LEASE_NOT_FOUND, UNAVAILABLE, UsherError

ENV_SERVER = "USHER_SERVER"
ENV_CLIENT_TOKEN = "USHER_CLIENT_TOKEN"
ENV_TLS_FINGERPRINT = "USHER_TLS_FINGERPRINT"
DEFAULT_KEEPALIVE = 180.0  # seconds, when the server does not say

LostCallback = Callable[[UsherError], None]


def _machine_id(host: str) -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value:
            return value
    return "host:" + host


def _identity(client_id: Optional[str], user: Optional[str], host: Optional[str]) -> Dict[str, Any]:
    """Who this client is to the server, as the Go SDK computes it: the default
    ID hashes the machine id, the OS user and the process id."""
    pid = os.getpid()
    user = user or getpass.getuser()
    host = host or socket.gethostname()
    if not client_id:
        digest = hashlib.sha256(f"{_machine_id(host)}\x00{user}\x00{pid}".encode()).hexdigest()
        client_id = "c_" + digest[:24]
    return {"id": client_id, "user": user, "host": host, "pid": pid}


class Client:
    """Checks out leases from Usher servers and keeps them alive.

    servers: a list of URLs or host:port, or one comma-separated string as
    in USHER_SERVER; None reads USHER_SERVER. token defaults to
    USHER_CLIENT_TOKEN. tls_fingerprint (default USHER_TLS_FINGERPRINT)
    makes the client trust exactly the server certificate with that
    SHA-256 fingerprint, as for a server started with --tls-auto.
    licensee_secret is sent with every checkout, for licenses with a
    Licensee Secret (docs/security.md). A Client is safe to use from several threads; close
    it (or use it as a context manager) to release every seat it holds.
    """

    def __init__(
        self,
        servers: Union[str, Sequence[str], None] = None,
        *,
        client_id: Optional[str] = None,
        user: Optional[str] = None,
        host: Optional[str] = None,
        token: Optional[str] = None,
        tls_fingerprint: Optional[str] = None,
        licensee_secret: str = "",
        request_timeout: float = 10.0,
        retry_timeout: float = 30.0,
    ) -> None:
        if servers is None:
            servers = os.environ.get(ENV_SERVER, "")
        listed = transport.split_list(servers) if isinstance(servers, str) else list(servers)
        if not listed:
            raise UsherError(INVALID, f"no Usher server configured: set {ENV_SERVER}=host:port (for example 127.0.0.1:7420) or pass servers")
        self._servers = transport.Servers(listed)
        self._token = token if token is not None else os.environ.get(ENV_CLIENT_TOKEN, "")
        pin = tls_fingerprint if tls_fingerprint is not None else os.environ.get(ENV_TLS_FINGERPRINT, "")
        self._opener = urllib.request.build_opener(PinnedHTTPSHandler(pin)) if pin else urllib.request.build_opener()
        self.identity = _identity(client_id, user, host)
        self._secret = licensee_secret
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self._lock = threading.Lock()
        self._leases: Dict[str, Lease] = {}
        self._closed = False

    @property
    def client_id(self) -> str:
        """The identity this client sends with every checkout."""
        return str(self.identity["id"])

    @property
    def server(self) -> str:
        """The server that answered last."""
        return self._servers.current

    def checkout(self, feature: str, *, wait: float = 0.0) -> "Lease":
        """Check out a seat of feature and keep it alive until release or close.

        wait: seconds to wait in line for a free seat (default: fail at
        once with no_seats_available). Transient failures are retried over
        every server for up to retry_timeout plus the wait. Raises
        UsherError with the server's code.
        """
        with self._lock:
            if self._closed:
                raise UsherError(INVALID, "the client is closed: create a new one")
            if feature in self._leases:
                raise UsherError(INVALID, f"this client already holds or is checking out feature {feature}: use that lease, or release it first")
            lease = Lease(self, feature)
            self._leases[feature] = lease
        try:
            answer = self._checkout(feature, wait)
        except BaseException:
            self._forget(lease)
            raise
        lease._start(answer)
        return lease

    def _checkout(self, feature: str, wait: float) -> Dict[str, Any]:
        start = time.monotonic()

        def op(server: str) -> Dict[str, Any]:
            body: Dict[str, Any] = {"feature": feature, "client": self.identity}
            if self._secret:
                body["client"] = dict(self.identity, secret=self._secret)
            left = wait - (time.monotonic() - start)
            if left > 0:
                body["wait"] = f"{left:.3f}s"
            answer = self._request(server, "POST", "/v1/leases", body, self.request_timeout + max(left, 0))
            answer["_server"] = server
            return answer

        return transport.call(self._servers, op, start + wait + self.retry_timeout)

    def _request(self, server: str, method: str, path: str, body: Optional[dict], timeout: float) -> Any:
        return transport.request(self._opener, server, method, path, body, self._token, timeout)

    def _release(self, lease_id: str, feature: str) -> None:
        path = "/v1/leases/" + urllib.parse.quote(lease_id, safe="")
        try:
            transport.call(self._servers, lambda s: self._request(s, "DELETE", path, None, self.request_timeout), time.monotonic() + self.retry_timeout)
        except UsherError as e:
            if e.code == LEASE_NOT_FOUND:
                raise UsherError(LEASE_NOT_FOUND, f"release lease {lease_id} of feature {feature}: the server no longer had it (an administrator kicked it, or it expired): there was no seat to give back") from None
            raise UsherError(e.code, f"release lease {lease_id} of feature {feature}: {e.message} (the server reclaims it after its keep-alive timeout)") from None

    def _forget(self, lease: "Lease") -> None:
        with self._lock:
            if self._leases.get(lease.feature) is lease:
                del self._leases[lease.feature]

    def leases(self) -> List["Lease"]:
        """The leases this client holds."""
        with self._lock:
            return list(self._leases.values())

    def close(self) -> None:
        """Release every lease and stop their threads. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            held = list(self._leases.values())
        for lease in held:
            try:
                lease.release()
            except UsherError:
                pass  # gone already, or the server reclaims it after its keep-alive timeout

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Lease:
    """A seat held by a Client, heartbeated on a background thread.

    It recovers from what can be recovered: transient errors are retried on
    every server until the lease would expire, and a lease the server lost
    is checked out again. Only when the seat is lost for good does alive
    turn False and the on_lost callback run, with the reason.
    """

    def __init__(self, client: Client, feature: str) -> None:
        self._client = client
        self.feature = feature
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._callbacks: List[LostCallback] = []
        self.error: Optional[UsherError] = None
        self.id = ""
        self.server = ""
        self._interval = DEFAULT_KEEPALIVE / 3
        self._keepalive = DEFAULT_KEEPALIVE
        self._contact = 0.0

    def _start(self, answer: Dict[str, Any]) -> None:
        self._update(answer, time.monotonic())
        self._thread = threading.Thread(target=self._run, name=f"usher-heartbeat-{self.feature}", daemon=True)
        self._thread.start()

    def _update(self, answer: Dict[str, Any], sent: float) -> None:
        keepalive = transport.parse_time(answer["expires_at"]) - transport.parse_time(answer["last_heartbeat"])
        interval = transport.parse_duration(answer.get("heartbeat_interval", ""))
        with self._lock:
            self.id, self.server, self._contact = answer["id"], answer["_server"], sent
            self._keepalive = keepalive if keepalive > 0 else DEFAULT_KEEPALIVE
            self._interval = interval if 0 < interval < self._keepalive else self._keepalive / 3

    @property
    def alive(self) -> bool:
        """Whether the seat is held: False once lost or released."""
        return not self._ended.is_set()

    def on_lost(self, callback: LostCallback) -> None:
        """Call callback(error) on the heartbeat thread when the seat is lost
        for good (not after release). If it is lost already, call it now."""
        with self._lock:
            lost = self._ended.is_set() and self.error is not None
            if not lost:
                self._callbacks.append(callback)
        if lost:
            assert self.error is not None
            callback(self.error)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the lease ends or timeout passes; return whether it ended."""
        return self._ended.wait(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except UsherError as e:
                if not self._stop.is_set():
                    self._lose(e)
                return

    def _beat(self) -> None:
        with self._lock:
            lease_id, deadline = self.id, self._contact + self._keepalive
        path = "/v1/leases/" + urllib.parse.quote(lease_id, safe="") + "/heartbeat"
        timeout = min(self._client.request_timeout, self._interval)

        def op(server: str) -> None:
            sent = time.monotonic()
            self._client._request(server, "POST", path, None, timeout)
            with self._lock:
                self.server, self._contact = server, sent

        try:
            transport.call(self._client._servers, op, deadline, self._stop)
        except UsherError as e:
            if self._stop.is_set():
                return
            if e.code == LEASE_NOT_FOUND:
                self._reacquire(lease_id)
            elif e.code == UNAVAILABLE:
                raise UsherError(UNAVAILABLE, f"lease {lease_id} expired before a server confirmed it, so its seat may go to someone else: {e.message}") from None
            else:
                raise

    def _reacquire(self, old: str) -> None:
        """Check the feature out again after the server lost the lease (kicked,
        reclaimed, or a server that never held it). No waiting in line."""
        try:
            answer = self._client._checkout(self.feature, 0.0)
        except UsherError as e:
            raise UsherError(e.code, f"the server ended lease {old} (reclaimed or kicked), and checking out again failed: {e.message}") from None
        self._update(answer, time.monotonic())

    def _lose(self, err: UsherError) -> None:
        with self._lock:
            if self._ended.is_set():
                return
            self.error = err
            callbacks = list(self._callbacks)
            self._ended.set()
        self._client._forget(self)
        for cb in callbacks:
            cb(err)

    def release(self) -> None:
        """Give the seat back and stop heartbeating. Releasing a lease that
        already ended does nothing. Raises UsherError("lease_not_found") if
        the server no longer had it, ("unavailable") if no server answered;
        the lease has ended either way."""
        with self._lock:
            if self._ended.is_set():
                return
            self._ended.set()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        with self._lock:
            lease_id = self.id  # after the thread stopped: a re-checkout may have changed it
        self._client._forget(self)
        self._client._release(lease_id, self.feature)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.release()
        except UsherError:
            pass  # the seat is gone already, or expires on the server
