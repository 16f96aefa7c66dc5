"""PostgreSQL as a fleet's store (ADR/0043), as far as the rest of berth meets it: the
library's settings for a URL, what a failed statement means, and a statement tried once
more after the pool dropped the connections the server reset.

psycopg and the library's PostgreSQL recorders (postgres_recorders.py, named in the
settings) are imported only by a host whose store is PostgreSQL (ADR/0048): every host
reaches this module, whose errors it must recognise.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import InterfaceError, OperationalError

from berth.adapters.lazy_modules import lazy_module
from berth.domain.errors import Unavailable

if TYPE_CHECKING:
    from psycopg import rows
else:
    rows = lazy_module("psycopg.rows")

HOST_ID = "HOST_ID"
#: How long the engine's own work (the reactor, recording an exit) waits before trying a
#: fleet's store again that did not answer.
STORE_RETRY_S = 1.0


class StoreUnavailable(Unavailable):
    """PostgreSQL cannot be reached (stopped, a reset connection): 503, nothing written."""


def store_unavailable(error: BaseException) -> StoreUnavailable | None:
    """`error` as the 503 it is when it says PostgreSQL could not be reached; else None."""
    if isinstance(error, StoreUnavailable):
        return error
    # Without psycopg imported (an SQLite root) no error can be one of its.
    psycopg = sys.modules.get("psycopg")
    if (
        psycopg is not None
        and isinstance(error, OperationalError | InterfaceError)
        and isinstance(error.__cause__, psycopg.Error)
    ):
        reason = (str(error).strip().splitlines() or ["no answer"])[0]
        return StoreUnavailable(f"event store unavailable: {reason}")
    return None


def postgres_env(url: str) -> dict[str, str]:
    """The library's settings for a `postgresql://user:password@host:port/dbname` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise ValueError(f"not a PostgreSQL store URL: {url!r} (postgresql://host/dbname)")
    return {
        "PERSISTENCE_MODULE": "berth.runtime.store.postgres_recorders:BerthPostgresFactory",
        "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        # Waits for a lock end in an error rather than hanging a request forever.
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_CONNECT_TIMEOUT": "2",
        # A pooled connection the server dropped (a restart, a reset) is found before use.
        "POSTGRES_PRE_PING": "y",
    }


@contextmanager
def tuple_cursor(datastore: Any) -> Iterator[Any]:
    """A cursor answering tuples (the library's answer dicts), in a read-only transaction
    on one of the pool's connections."""
    with (
        datastore.get_connection() as connection,
        connection.transaction(force_rollback=True),
        connection.cursor(row_factory=rows.tuple_row) as cursor,
    ):
        yield cursor


Answer = TypeVar("Answer")


def once_more(datastore: Any, read: Callable[[], Answer]) -> Answer:
    """`read()`, and once more after the pool has dropped the connections the server
    reset, if it failed on one."""
    try:
        return read()
    except (InterfaceError, OperationalError):
        with contextlib.suppress(Exception):
            datastore.pool.check()
        return read()
