"""The hash chain: written with the events, verified, and every raw-SQL tamper caught."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.domain.container import Container
from berth.runtime.store import chain, verify
from berth.runtime.store.chain import ChainBroken
from berth.runtime.store.events import EventStore
from berth.runtime.store.transcoder import MsgpackTranscoder
from berth.runtime.store.verify import verify as verify_log

from ..domain.factories import cause_at, new_container

CONTAINERS = 3
CHURN = 6  # pause/unpause pairs per container, after create, start and started


def churn(c: Container, step: int) -> None:
    if c.state.value == "paused":
        c.unpause(cause_at(step))
    else:
        c.pause(cause_at(step))


def fill(
    store: EventStore, containers: int = CONTAINERS, churns: int = CHURN, first: int = 0
) -> None:
    """A few containers, saved one event at a time, interleaved in the log."""
    running = []
    for n in range(first, first + containers):
        c = new_container(f"{n + 1:064x}", name=f"/chain{n}")
        c.request_start(cause_at(1))
        c.mark_started(100 + n, cause_at(2).at, cause_at(2))
        store.save(c)
        running.append(c)
    for step in range(churns):
        for c in running:
            churn(c, 10 + step)
            store.save(c)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "events.db"
    store = EventStore(path)
    fill(store)
    store.close()
    yield path


def raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def last_position(db: Path) -> int:
    with raw(db) as conn:
        return int(conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0])


def test_an_intact_log_verifies(db: Path) -> None:
    total = last_position(db)
    report = verify_log(db)
    assert report.intact, report.problem
    assert report.events == total
    assert report.head_position == total
    with raw(db) as conn:
        head = conn.execute("SELECT chain_hash FROM event_chain WHERE position = ?", (total,))
        assert report.head_hash == head.fetchone()[0].hex()
        chained = conn.execute("SELECT COUNT(*) FROM event_chain").fetchone()[0]
    assert chained == total


def test_each_event_is_chained_in_its_own_transaction(db: Path) -> None:
    """A failed save writes neither the event nor its chain row."""
    store = EventStore(db)
    c = new_container("f" * 64, name="/late")
    store.save(c)
    duplicate = new_container("f" * 64, name="/late")  # same id and version: rejected
    with pytest.raises(Exception, match="UNIQUE"):
        store.save(duplicate)
    store.close()
    assert verify_log(db).intact


def test_an_edited_state_is_found_at_its_position(db: Path) -> None:
    transcoder = MsgpackTranscoder()
    with raw(db) as conn:
        state = conn.execute("SELECT state FROM stored_events WHERE rowid = 7").fetchone()[0]
        data = transcoder.decode(state)
        data["actor"] = type(data["actor"])(data["actor"].kind, uid=0, pid=1)
        conn.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = 7", (transcoder.encode(data),)
        )
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (7, "edited")


def test_a_deleted_event_is_found(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 5")
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (5, "missing")


def test_two_swapped_events_are_found_as_reordered(db: Path) -> None:
    with raw(db) as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                "FROM stored_events WHERE rowid IN (4, 9)"
            )
        }
        conn.execute("BEGIN")
        # Park one row out of the way: (originator_id, version) is unique.
        conn.execute("UPDATE stored_events SET originator_version = -1 WHERE rowid = 4")
        for target, source in ((9, 4), (4, 9)):
            conn.execute(
                "UPDATE stored_events SET originator_id = ?, originator_version = ?, topic = ?, "
                "state = ? WHERE rowid = ?",
                (*rows[source], target),
            )
        conn.execute("COMMIT")
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (4, "reordered")
    assert "recorded at position 9" in problem.detail


def test_a_forged_event_is_found_as_inserted(db: Path) -> None:
    total = last_position(db)
    with raw(db) as conn:
        conn.execute(
            "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
            ("e" * 64, 1, "berth.container.Created", b"\x80"),
        )
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (total + 1, "inserted")


def test_a_forged_event_in_a_gap_is_found(db: Path) -> None:
    """Deleting a row and writing another in its place is an edit of that position."""
    with raw(db) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 3")
        conn.execute(
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
            "VALUES (3, ?, 1, 'berth.container.Created', x'80')",
            ("e" * 64,),
        )
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (3, "edited")


def test_an_altered_chain_record_is_found(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("UPDATE event_chain SET chain_hash = zeroblob(32) WHERE position = 6")
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (6, "chain-altered")


def test_saving_after_the_tail_was_deleted_refuses_to_rechain(db: Path) -> None:
    total = last_position(db)
    with raw(db) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (total,))
    store = EventStore(db)
    with pytest.raises(ChainBroken, match=f"position {total} is already chained"):
        store.save(new_container("d" * 64, name="/after"))
    store.close()
    problem = verify_log(db).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (total, "missing")


def test_an_old_log_is_chained_on_first_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.db"
    # Written by the library's own recorder, as berth did before the chain existed.
    old = EventStore(path, env={"PERSISTENCE_MODULE": "eventsourcing.sqlite"})
    fill(old)
    old.close()
    total = last_position(path)
    assert not verify.has_chain(path)
    with caplog.at_level(logging.WARNING):
        EventStore(path).close()
    assert f"chaining its {total} existing positions (backfill)" in caplog.text
    report = verify_log(path)
    assert report.intact, report.problem
    assert report.events == total
    assert any(f"positions 1-{total} were chained on first open" in n for n in report.notes)
    store = EventStore(path)  # a second open does not chain again
    fill(store, containers=1, churns=1, first=CONTAINERS)
    store.close()
    assert verify_log(path).events == last_position(path) > total


@pytest.fixture
def checkpointed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(chain, "CHECKPOINT_INTERVAL", 5)
    path = tmp_path / "events.db"
    store = EventStore(path)
    fill(store)
    store.close()
    return path


def test_checkpoints_cut_the_log_into_segments(checkpointed: Path) -> None:
    total = last_position(checkpointed)
    with raw(checkpointed) as conn:
        positions = [r[0] for r in conn.execute("SELECT position FROM event_chain_checkpoints")]
    # Saves of 3 events at a time cross a multiple of 5 at its first position at or after it.
    assert positions == sorted(
        {((p + 4) // 5) * 5 for p in range(5, total + 1, 5)} & set(positions)
    )
    assert len(positions) >= total // 5 - 1
    report = verify_log(checkpointed)
    assert report.intact
    assert report.segments == len(positions) + (1 if positions[-1] < total else 0)
    assert report.events == total


def test_segments_run_in_parallel_workers_and_find_an_edit_late_in_the_log(
    checkpointed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "PARALLEL_MIN_EVENTS", 0)
    total = last_position(checkpointed)
    assert verify_log(checkpointed, jobs=2).intact
    with raw(checkpointed) as conn:
        conn.execute(
            "UPDATE stored_events SET state = state || x'00' WHERE rowid = ?", (total - 2,)
        )
        conn.execute("UPDATE stored_events SET topic = 'x' WHERE rowid = ?", (total - 1,))
    problem = verify_log(checkpointed, jobs=2).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (total - 2, "edited")


def test_starting_after_a_position_skips_earlier_segments_only(checkpointed: Path) -> None:
    total = last_position(checkpointed)
    with raw(checkpointed) as conn:
        conn.execute("UPDATE stored_events SET state = x'00' WHERE rowid = 2")
    assert not verify_log(checkpointed).intact
    tail = verify_log(checkpointed, start_after=total - 1)
    assert tail.intact
    assert 0 < tail.events < total


def test_an_altered_checkpoint_is_found(checkpointed: Path) -> None:
    with raw(checkpointed) as conn:
        first = conn.execute("SELECT MIN(position) FROM event_chain_checkpoints").fetchone()[0]
        conn.execute(
            "UPDATE event_chain_checkpoints SET chain_hash = zeroblob(32) WHERE position = ?",
            (first,),
        )
    problem = verify_log(checkpointed).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (first, "checkpoint-altered")


def test_a_tail_deleted_with_its_chain_is_caught_by_a_checkpoint(checkpointed: Path) -> None:
    with raw(checkpointed) as conn:
        last = conn.execute("SELECT MAX(position) FROM event_chain_checkpoints").fetchone()[0]
        conn.execute("DELETE FROM stored_events WHERE rowid >= ?", (last - 1,))
        conn.execute("DELETE FROM event_chain WHERE position >= ?", (last - 1,))
    problem = verify_log(checkpointed).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (last - 1, "truncated")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_single_edit_or_delete_is_named_at_its_position(
    db: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    total = last_position(db)
    position = data.draw(st.integers(1, total), label="position")
    delete = data.draw(st.booleans(), label="delete")
    copy = tmp_path_factory.mktemp("tamper") / "events.db"
    shutil.copy(db, copy)
    with raw(copy) as conn:
        if delete:
            conn.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
        else:
            conn.execute(
                "UPDATE stored_events SET state = state || x'01' WHERE rowid = ?", (position,)
            )
    problem = verify_log(copy).problem
    assert problem is not None
    assert (problem.position, problem.kind) == (position, "missing" if delete else "edited")


# The command --------------------------------------------------------------------------------


def berth(*args: str) -> Result:
    from berth.runtime.cli.main import main

    return CliRunner().invoke(main, list(args))


def test_audit_verify_exits_0_with_a_summary_when_intact(db: Path) -> None:
    result = berth(*["audit", "verify", "--root", str(db.parent)])
    assert result.exit_code == 0, result.output
    total = last_position(db)
    assert f"intact: {total} events" in result.output
    assert "head" in result.output


def test_audit_verify_names_the_first_bad_position_and_exits_1(db: Path) -> None:
    with raw(db) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 8")
        conn.execute("UPDATE stored_events SET state = x'00' WHERE rowid = 11")
    result = berth(*["--root", str(db.parent), "audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "position 8: missing" in result.output


def test_audit_verify_without_a_log_is_an_error(tmp_path: Path) -> None:
    result = berth(*["audit", "verify", "--root", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no event log" in result.output
    assert not (tmp_path / "none").exists()
