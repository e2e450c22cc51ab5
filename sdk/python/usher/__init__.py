"""Usher SDK for Python: check out a seat of a licensed feature and keep it.

    import usher

    with usher.Client() as client:           # servers from USHER_SERVER
        with client.checkout("cad", wait=60) as lease:
            lease.on_lost(lambda err: print("lost:", err.code))
            run_the_application()

Heartbeats run on a background thread; transient errors are retried with
back-off over every server in USHER_SERVER; a lease the server lost
(kicked, reclaimed, restarted without it) is checked out again; the
on_lost callback tells when the seat is gone for good. Standard library
only. See docs/sdk-python.md.
"""

from .client import Client, Lease
from .errors import (
    FEATURE_EXPIRED,
    FEATURE_NOT_FOUND,
    FEATURE_NOT_STARTED,
    FORBIDDEN,
    INTERNAL,
    INVALID,
    LEASE_NOT_FOUND,
    NO_SEATS,
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    UsherError,
)

__all__ = [
    "Client",
    "Lease",
    "UsherError",
    "FEATURE_EXPIRED",
    "FEATURE_NOT_FOUND",
    "FEATURE_NOT_STARTED",
    "FORBIDDEN",
    "INTERNAL",
    "INVALID",
    "LEASE_NOT_FOUND",
    "NO_SEATS",
    "RATE_LIMITED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
]
