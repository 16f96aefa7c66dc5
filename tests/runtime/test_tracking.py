"""Applying the log to a view (runtime/views/tracking.py): a batch another process
applied first is read again; a batch the view itself refuses is an error, once."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from berth.runtime.views.tracking import apply_new_events


class Log:
    """Two events, one batch each."""

    def read_log(self, after: int, limit: int) -> list[int]:
        return [after + 1] if after < 2 else []


def test_a_batch_another_process_applied_first_is_read_again() -> None:
    position = [0]
    applied: list[tuple[list[int], int]] = []

    def apply(batch: list[int], after: int) -> None:
        if after == 0 and not applied:
            position[0] = 1  # the other process's batch moved the view on
            applied.append(([], after))
            raise IntegrityError("the position of views moved")
        applied.append((batch, after))
        position[0] = batch[-1]

    log: Any = Log()
    assert apply_new_events(log, lambda: position[0], apply, 100) == 2
    assert applied == [([], 0), ([2], 1)]


def test_a_row_the_view_refuses_is_raised_not_retried_forever() -> None:
    attempts: list[int] = []

    def apply(batch: list[int], after: int) -> None:
        attempts.append(after)
        raise IntegrityError("NOT NULL constraint failed: volumes.name")

    log: Any = Log()
    with pytest.raises(IntegrityError, match=r"volumes\.name"):
        apply_new_events(log, lambda: 0, apply, 100)
    assert attempts == [0]
