"""Domain errors, each with the HTTP status the Docker Engine API answers for it.

The API layer maps an error to a response by reading `http_status` only; the message is
Docker's own text wherever Docker has one, so clients that match on it keep working.
"""

from __future__ import annotations

from typing import ClassVar


class BerthError(Exception):
    """Base of every error the domain raises on purpose."""

    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(BerthError):
    """The request is malformed or asks for something impossible (400)."""

    http_status = 400


class NotFound(BerthError):
    """No such container, image, name or network (404)."""

    http_status = 404


class Conflict(BerthError):
    """The request contradicts current state: a taken name, a paused container (409)."""

    http_status = 409


class NotModified(BerthError):
    """The request asks for what already holds, e.g. start of a running container (304)."""

    http_status = 304


class Unavailable(BerthError):
    """A dependency is not ready yet (503)."""

    http_status = 503
