"""Trust exactly one server certificate, by its SHA-256 fingerprint: the
way to reach a server with a self-signed certificate (usher server
--tls-auto), as USHER_TLS_FINGERPRINT does for the Go SDK."""

from __future__ import annotations

import functools
import hashlib
import http.client
import ssl
import urllib.request
from typing import Any

from .errors import INVALID, UNAVAILABLE, UsherError


def parse_fingerprint(value: str) -> bytes:
    """Read a fingerprint as the server prints it: hex digits, with or
    without colons and a "sha256:" prefix."""
    t = value.strip()
    if t[:7].lower() == "sha256:":
        t = t[7:]
    try:
        raw = bytes.fromhex(t.replace(":", ""))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise UsherError(INVALID, f"fingerprint {value!r} is not a SHA-256 fingerprint: want 64 hex digits, as the server prints at start")
    return raw


def format_fingerprint(der: bytes) -> str:
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2))


class _PinnedConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, fingerprint: bytes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fingerprint = fingerprint

    def connect(self) -> None:
        super().connect()
        der = self.sock.getpeercert(binary_form=True) or b""
        if hashlib.sha256(der).digest() != self._fingerprint:
            self.sock.close()
            raise UsherError(UNAVAILABLE, f"the server at {self.host}:{self.port} answered with a certificate of fingerprint {format_fingerprint(der)}, not the pinned one: check the fingerprint the server printed at start (USHER_TLS_FINGERPRINT)")


class PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    """Opens https URLs trusting only the certificate with the fingerprint;
    the chain and the names in it are not checked: the pin is the check."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = parse_fingerprint(fingerprint)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._pinned_context = ctx
        super().__init__(context=ctx)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        conn = functools.partial(_PinnedConnection, fingerprint=self._fingerprint)
        return self.do_open(conn, req, context=self._pinned_context)  # type: ignore[arg-type]
