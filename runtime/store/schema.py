"""Tables made by whichever process opens a file first, several possibly at once."""

from __future__ import annotations

import time
from typing import Any

from eventsourcing.persistence import OperationalError

CREATE_TIMEOUT_S = 30


def create_table_retrying(recorder: Any) -> None:
    """`recorder.create_table()`, again while another process writes the same file.

    A transaction that read the schema and then must write cannot wait for the writer
    (SQLite answers "database is locked" at once, since waiting could deadlock), so the
    whole transaction is tried again.
    """
    deadline = time.monotonic() + CREATE_TIMEOUT_S
    while True:
        try:
            recorder.create_table()
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
