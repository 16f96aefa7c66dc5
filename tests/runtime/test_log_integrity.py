"""The tail check berthd and the CLI run at start, and what a damaged log answers.

Every tamper is a raw SQL write, as tests/runtime/test_chain.py makes them; hypothesis
chooses which byte of which event (or of its topic, or of its chain row) changes.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.runtime.store import chain
from berth.runtime.store.events import EventStore
from berth.runtime.store.integrity import (
    DamagedEvent,
    LogVerificationFailed,
    ReadOnlyLog,
    read_only,
    verify_tail,
)
from berth.runtime.store.verify import verify as verify_log

from ..domain.factories import new_container
from .test_chain import fill, last_position, raw

Tamper = Callable[[sqlite3.Connection, int], None]
EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of a few containers, well under one checkpoint interval."""
    path = tmp_path_factory.mktemp("pristine") / "events.db"
    store = EventStore(path)
    fill(store)
    store.close()
    return path


@pytest.fixture
def copy_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    def copy(db: Path) -> Path:
        target = tmp_path_factory.mktemp("tampered") / "events.db"
        shutil.copy(db, target)
        return target

    return copy


def flip_byte(
    conn: sqlite3.Connection, table: str, column: str, key: str, row: int, at: int
) -> int:
    """XOR one byte of a blob column with 0xFF; answers the byte's index."""
    value = bytearray(
        conn.execute(
            f"SELECT CAST({column} AS BLOB) FROM {table} WHERE {key} = ?", (row,)
        ).fetchone()[0]
    )
    index = at % len(value)
    value[index] ^= 0xFF
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (bytes(value), row))
    return index


def test_a_clean_log_passes_and_every_event_of_its_tail_is_checked(pristine: Path) -> None:
    report = verify_tail(pristine)
    assert report.intact, report.problem
    assert report.events == last_position(pristine)


def test_a_root_without_a_log_has_nothing_to_check(tmp_path: Path) -> None:
    assert verify_tail(tmp_path / "events.db").intact
    assert not (tmp_path / "events.db").exists()


@EXAMPLES
@given(data=st.data())
def test_one_byte_of_a_stored_state_is_found_at_its_position(
    pristine: Path, copy_of: Callable[[Path], Path], data: st.DataObject
) -> None:
    db = copy_of(pristine)
    position = data.draw(st.integers(1, last_position(db)), label="position")
    byte = data.draw(st.integers(0, 10_000), label="byte")
    with raw(db) as conn:
        flip_byte(conn, "stored_events", "state", "rowid", position, byte)
    problem = verify_tail(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, "edited")
    assert f"at position {position}" in LogVerificationFailed(problem).message


@EXAMPLES
@given(data=st.data())
def test_one_byte_of_a_topic_is_found_at_its_position(
    pristine: Path, copy_of: Callable[[Path], Path], data: st.DataObject
) -> None:
    db = copy_of(pristine)
    position = data.draw(st.integers(1, last_position(db)), label="position")
    with raw(db) as conn:
        flip_byte(conn, "stored_events", "topic", "rowid", position, data.draw(st.integers(0, 99)))
    problem = verify_tail(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, "edited")


@EXAMPLES
@given(data=st.data())
def test_one_byte_of_the_chain_table_is_found_at_its_position(
    pristine: Path, copy_of: Callable[[Path], Path], data: st.DataObject
) -> None:
    db = copy_of(pristine)
    total = last_position(db)
    position = data.draw(st.integers(1, total), label="position")
    with raw(db) as conn:
        flip_byte(
            conn, "event_chain", "chain_hash", "position", position, data.draw(st.integers(0, 31))
        )
    problem = verify_tail(db).problem
    assert problem is not None
    assert problem.position == position
    # The last link has no next one to tell a changed link from a changed event.
    assert problem.kind == ("chain-altered" if position < total else "edited")


@EXAMPLES
@given(data=st.data())
def test_a_deleted_or_swapped_row_is_found_at_its_position(
    pristine: Path, copy_of: Callable[[Path], Path], data: st.DataObject
) -> None:
    db = copy_of(pristine)
    total = last_position(db)
    first = data.draw(st.integers(1, total - 1), label="first")
    swap = data.draw(st.booleans(), label="swap")
    with raw(db) as conn:
        if swap:
            second = data.draw(st.integers(first + 1, total), label="second")
            swap_rows(conn, first, second)
        else:
            conn.execute("DELETE FROM stored_events WHERE rowid = ?", (first,))
    problem = verify_tail(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (first, "reordered" if swap else "missing")


def swap_rows(conn: sqlite3.Connection, first: int, second: int) -> None:
    rows = {
        r[0]: r[1:]
        for r in conn.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "WHERE rowid IN (?, ?)",
            (first, second),
        )
    }
    conn.execute("BEGIN")
    conn.execute("UPDATE stored_events SET originator_version = -1 WHERE rowid = ?", (first,))
    for target, source in ((second, first), (first, second)):
        conn.execute(
            "UPDATE stored_events SET originator_id = ?, originator_version = ?, topic = ?, "
            "state = ? WHERE rowid = ?",
            (*rows[source], target),
        )
    conn.execute("COMMIT")


# Checkpoints: the tail starts at the last one -------------------------------------------------


@pytest.fixture
def checkpointed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(chain, "CHECKPOINT_INTERVAL", 5)
    path = tmp_path / "events.db"
    store = EventStore(path)
    fill(store)
    store.close()
    yield path


def checkpoints(db: Path) -> list[int]:
    with raw(db) as conn:
        return [r[0] for r in conn.execute("SELECT position FROM event_chain_checkpoints")]


def test_the_tail_check_reads_only_the_events_after_the_last_checkpoint(
    checkpointed: Path,
) -> None:
    last = checkpoints(checkpointed)[-1]
    report = verify_tail(checkpointed)
    assert report.intact, report.problem
    assert report.events == last_position(checkpointed) - last


def test_an_edit_before_the_last_checkpoint_is_left_to_audit_verify(checkpointed: Path) -> None:
    """The documented limit of a tail check (ADR/0019): the full verify finds it, and
    reading the event says where the damage is instead of failing on the decoder."""
    with raw(checkpointed) as conn:
        flip_byte(conn, "stored_events", "state", "rowid", 2, 0)
    assert verify_tail(checkpointed).intact
    problem = verify_log(checkpointed).problem
    assert problem is not None
    assert problem.position == 2
    store = EventStore(checkpointed)
    try:
        with pytest.raises(
            DamagedEvent, match="the event log is damaged: the event at position 2 "
        ):
            store.read_log(after=0)
    finally:
        store.close()


CHECKPOINT_ALTERED = (
    "UPDATE event_chain_checkpoints SET chain_hash = zeroblob(32) WHERE position = ?"
)
CHAIN_ALTERED = "UPDATE event_chain SET chain_hash = zeroblob(32) WHERE position = ?"
CHAIN_DELETED = "DELETE FROM event_chain WHERE position = ?"
EVENT_DELETED = "DELETE FROM stored_events WHERE rowid = ?"
EVENT_EDITED = "UPDATE stored_events SET state = state || x'00' WHERE rowid = ?"


@pytest.mark.parametrize(
    ("which", "tamper", "kind"),
    [
        # Any checkpoint is checked against its chain row...
        *[
            (which, tamper, kind)
            for which in ("first", "last")
            for tamper, kind in (
                (CHECKPOINT_ALTERED, "checkpoint-altered"),
                (CHAIN_ALTERED, "chain-altered"),
                (CHAIN_DELETED, "chain-altered"),
            )
        ],
        # ...and the last one, the tail's anchor, against its own event too.
        ("last", EVENT_DELETED, "missing"),
        ("last", EVENT_EDITED, "edited"),
    ],
)
def test_a_checkpoint_that_disagrees_with_the_chain_is_found(
    checkpointed: Path, which: str, tamper: str, kind: str
) -> None:
    positions = checkpoints(checkpointed)
    position = positions[0] if which == "first" else positions[-1]
    with raw(checkpointed) as conn:
        conn.execute(tamper, (position,))
    problem = verify_tail(checkpointed).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, kind)


# The store on a damaged log ---------------------------------------------------------------


@pytest.fixture
def damaged(pristine: Path, copy_of: Callable[[Path], Path]) -> Iterator[EventStore]:
    """A store whose event at position 3 is not msgpack any more."""
    db = copy_of(pristine)
    with raw(db) as conn:
        conn.execute("UPDATE stored_events SET state = x'c1' WHERE rowid = 3")
    store = EventStore(db)
    yield store
    store.close()


def test_reading_a_damaged_event_names_its_position(damaged: EventStore) -> None:
    with pytest.raises(DamagedEvent) as raised:
        damaged.read_log(after=0)
    assert "the event log is damaged: the event at position 3 " in raised.value.message
    assert "berth audit verify" in raised.value.message
    with pytest.raises(DamagedEvent, match="position 3"):
        damaged.aggregate_log(_originator_at(damaged, 3))
    # What is not damaged reads on.
    assert [e.position for e in damaged.read_log(after=0, limit=2)] == [1, 2]
    assert damaged.aggregate_log(_originator_at(damaged, 4))


def test_loading_an_aggregate_through_a_damaged_event_names_its_position(
    damaged: EventStore,
) -> None:
    with pytest.raises(DamagedEvent, match="the event log is damaged: the event at position 3 "):
        damaged.repository.get(_originator_at(damaged, 3))


def _originator_at(store: EventStore, position: int) -> str:
    with sqlite3.connect(store.db_path) as conn:
        found = conn.execute("SELECT originator_id FROM stored_events WHERE rowid = ?", (position,))
        return str(found.fetchone()[0])


def test_a_read_only_store_appends_nothing_and_reads_up_to_the_problem(
    damaged: EventStore,
) -> None:
    problem = verify_tail(damaged.db_path).problem
    assert problem is not None
    damaged.read_only = read_only(problem, "berthd")
    before = damaged.max_position()
    with pytest.raises(ReadOnlyLog, match="failed verification at position 3") as raised:
        damaged.save(new_container("d" * 64, name="/late"))
    assert raised.value.http_status == 503
    assert damaged.max_position() == before
    assert [e.position for e in damaged.read_log(after=0)] == [1, 2]
    assert all(e.position < 3 for e in damaged.aggregate_log(_originator_at(damaged, 3)))
