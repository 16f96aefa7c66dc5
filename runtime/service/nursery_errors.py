"""A domain error out of a trio nursery as itself, not wrapped in an ExceptionGroup."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from berth.domain.errors import BerthError


@contextlib.contextmanager
def unwrap_errors() -> Iterator[None]:
    """Let a domain error out of a nursery as itself, not inside an ExceptionGroup.

    Callers answer with the error's status and message; the first one says what failed.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        first = _first_leaf(group)
        if isinstance(first, BerthError):
            raise first from group
        raise


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
