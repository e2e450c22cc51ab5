"""Requests to Usher servers: one request, and a call that fails over and
retries with back-off."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, List, Optional, Sequence, TypeVar

from .errors import INVALID, UNAVAILABLE, UsherError

DEFAULT_PORT = 7420
BACKOFF_BASE = 0.1  # seconds; doubles each round
BACKOFF_MAX = 5.0

T = TypeVar("T")


def normalize_servers(servers: Sequence[str]) -> List[str]:
    """Turn URLs and host[:port] addresses into base URLs, without duplicates."""
    out: List[str] = []
    for s in servers:
        url = normalize_server(s)
        if url not in out:
            out.append(url)
    return out


def normalize_server(s: str) -> str:
    s = s.strip()
    if "://" not in s:
        s = "http://" + s
    u = urllib.parse.urlsplit(s)
    try:
        port = u.port
    except ValueError:
        port = -1
    if u.scheme not in ("http", "https") or not u.hostname or port == -1:
        raise UsherError(INVALID, f"{s!r} is not a server address: use host:port or http://host:port")
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    return f"{u.scheme}://{host}:{port or DEFAULT_PORT}{u.path.rstrip('/')}"


def split_list(value: str) -> List[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


def request(opener: urllib.request.OpenerDirector, server: str, method: str, path: str, body: Optional[dict], token: str, timeout: float) -> Any:
    """Send one request and return the decoded JSON answer (None if empty).

    An error answer raises UsherError with the server's code; a server that
    cannot be reached, or answers without an Usher error, raises
    UsherError("unavailable").
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with opener.open(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raise decode_error(server, e.code, e.read()) from None
    except (urllib.error.URLError, OSError, socket.timeout) as e:
        reason = getattr(e, "reason", e)
        raise UsherError(UNAVAILABLE, f"cannot reach the Usher server at {server}: {reason}") from None
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise UsherError(UNAVAILABLE, f"{server} sent an answer the SDK cannot read: check that it is an Usher server") from None


def decode_error(server: str, status: int, raw: bytes) -> UsherError:
    try:
        body = json.loads(raw)
        return UsherError(body["code"], body.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return UsherError(UNAVAILABLE, f"{server} answered {status} without an Usher error: check that it is an Usher server")


def backoff(round_: int) -> float:
    """The pause after a failed round over every server, with jitter."""
    d = min(BACKOFF_BASE * (2 ** min(round_, 8)), BACKOFF_MAX)
    return d / 2 + random.uniform(0, d / 2)


class Servers:
    """The servers a client knows, starting with the one that answered last."""

    def __init__(self, servers: Sequence[str]) -> None:
        self.list = normalize_servers(servers)
        self.current = self.list[0]

    def in_order(self) -> List[str]:
        i = self.list.index(self.current)
        return self.list[i:] + self.list[:i]


def call(servers: Servers, op: Callable[[str], T], deadline: float, stop: Optional[threading.Event] = None) -> T:
    """Run op against the server in use, failing over to the next ones while
    errors are transient, with rounds of back-off until the deadline or
    until stop is set."""
    last: Optional[UsherError] = None
    round_ = 0
    while True:
        for s in servers.in_order():
            try:
                result = op(s)
            except UsherError as e:
                if not e.transient:
                    servers.current = s
                    raise
                last = e
                continue
            servers.current = s
            return result
        pause = min(backoff(round_), deadline - time.monotonic())
        if pause <= 0 or (stop is not None and stop.wait(pause)):
            assert last is not None
            raise UsherError(UNAVAILABLE, f"no Usher server answered: {last.message}; check that the server runs and that USHER_SERVER names it")
        if stop is None:
            time.sleep(pause)  # back-off between rounds, bounded by the deadline
        round_ += 1


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str) -> float:
    """Parse an RFC 3339 time of the API into seconds since the epoch."""
    from datetime import datetime

    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.replace("Z", "+00:00"))
    return datetime.fromisoformat(value).timestamp()


def parse_duration(value: str) -> float:
    """Parse a duration of the API ("60s", "1.5s") into seconds."""
    if value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            pass
    return 0.0
