"""Domain errors, each with the HTTP status the Docker Engine API answers for it.

The API layer maps an error to a response by reading `http_status` only; the message is
Docker's own text wherever Docker has one, so clients that match on it keep working.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
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


class Forbidden(BerthError):
    """dockerd's errdefs.Forbidden: an operation the object's state does not allow."""

    http_status = 403


class Conflict(BerthError):
    """The request contradicts current state: a taken name, a paused container (409)."""

    http_status = 409


class NotModified(BerthError):
    """The request asks for what already holds, e.g. start of a running container (304)."""

    http_status = 304


class Unavailable(BerthError):
    """A dependency is not ready yet (503)."""

    http_status = 503


class DiskFull(Unavailable):
    """A write found no space (ENOSPC, EDQUOT, SQLite's SQLITE_FULL): 503, naming the path.

    Nothing is written half: the write that failed is rolled back or removed, and the next
    request succeeds once space returns.
    """

    def __init__(self, path: object) -> None:
        super().__init__(f"no space left on device: {path}")
        self.path = str(path)


_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL ("database or disk is full")


def disk_full(error: BaseException, path: object) -> DiskFull | None:
    """The `DiskFull` that `error` means, if it means one: an OSError with ENOSPC or
    EDQUOT, or SQLite's SQLITE_FULL, found on the error, in what it was raised from (the
    eventsourcing library wraps SQLite's errors) or in its group. `path` is named unless
    the error names its own file."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return current
        if isinstance(current, OSError) and current.errno in _NO_SPACE_ERRNOS:
            return DiskFull(current.filename if current.filename is not None else path)
        if getattr(current, "sqlite_errorcode", None) == _SQLITE_FULL:
            return DiskFull(path)
        if isinstance(current, BaseExceptionGroup):  # from a nursery: any of its errors
            for inner in current.exceptions:
                found = disk_full(inner, path)
                if found is not None:
                    return found
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return None


@contextmanager
def space_for(path: object) -> Iterator[None]:
    """Turn a write's lack of space into `DiskFull(path)`; other errors pass unchanged."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as error:
        full = disk_full(error, path)
        if full is None:
            raise
        raise full from error
