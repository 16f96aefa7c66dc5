"""Tables made by whichever process opens a file first, several possibly at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import OperationalError

CREATE_TIMEOUT_S = 30


def create_table_retrying(recorder: Any) -> None:
    """`recorder.create_table()`, again while another process writes the same file
    (`retrying`)."""
    retrying(recorder.create_table)


def retrying(schema_work: Callable[[], None]) -> None:
    """A transaction that reads the schema and then writes it, again while another
    process writes the same file.

    Such a transaction cannot wait for the writer (SQLite answers "database is locked" at
    once, since waiting could deadlock), so the whole transaction is tried again.
    """
    deadline = time.monotonic() + CREATE_TIMEOUT_S
    while True:
        try:
            schema_work()
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
