"""The one error type of the Usher SDK, with the API's stable codes."""

from __future__ import annotations

# Error codes of the HTTP API (docs/api.md). They never change.
NO_SEATS = "no_seats_available"
FEATURE_NOT_FOUND = "feature_not_found"
FEATURE_NOT_STARTED = "feature_not_started"
FEATURE_EXPIRED = "feature_expired"
LEASE_NOT_FOUND = "lease_not_found"
INVALID = "invalid_request"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"
INTERNAL = "internal"

# Codes a request may succeed after, here or on another server.
TRANSIENT = frozenset({UNAVAILABLE, INTERNAL, RATE_LIMITED})


class UsherError(Exception):
    """An error of an Usher server or of the SDK.

    ``code`` is the stable, machine-readable code of the API; ``message``
    says what happened and what to do next.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message or self.code

    def __repr__(self) -> str:
        return f"UsherError({self.code!r}, {self.message!r})"

    @property
    def transient(self) -> bool:
        """Whether the request may succeed if tried again."""
        return self.code in TRANSIENT
