"""berthd and the in-process CLI refuse a log whose tail fails verification (ADR/0019).

A root is seeded with an image and two containers through the engine (nothing runs), one
byte of one event is changed with raw SQL, and berthd and `berth` are run as processes.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.runtime.cli.client.http import DaemonClient, DaemonError
from berth.runtime.service.engine import Engine
from berth.runtime.store import chain

from ..conftest import API, SteppingClock, seed_busybox
from .test_log_integrity import flip_byte

BIN = Path(sys.executable).parent
LOG_LINE = b"2026-11-28T12:00:00.000000000Z stdout F hello from before\n"


def seed(root: Path) -> list[str]:
    """An image and two created containers, one with a log; their ids."""
    with Engine(root, clock=SteppingClock()) as engine:
        seed_busybox(engine)
        ids = [
            engine.create_container({"Image": "busybox", "Cmd": ["true"]}, name, API).id
            for name in ("first", "second")
        ]
    log = root / "containers" / ids[0] / "container.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(LOG_LINE)
    return ids


def positions(root: Path) -> tuple[int, int]:
    """(count, last position) of the stored events."""
    with closing(sqlite3.connect(root / "events.db")) as conn:
        count, last = conn.execute("SELECT COUNT(*), MAX(rowid) FROM stored_events").fetchone()
    return int(count), int(last)


def corrupt(root: Path, position: int, byte: int = 0) -> None:
    """Flip one byte of one event, in the database file itself: the change must not wait in
    the WAL, where the first reader to close (berthd) would checkpoint it and look like a
    writer."""
    with closing(sqlite3.connect(root / "events.db", isolation_level=None)) as conn:
        flip_byte(conn, "stored_events", "state", "rowid", position, byte)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("seeded") / "berth"
    return root, seed(root)


def copy_root(seeded: tuple[Path, list[str]], target: Path) -> Path:
    subprocess.run(["cp", "-a", str(seeded[0]), str(target)], check=True)
    return target


def berthd(root: Path, *args: str) -> subprocess.Popen[str]:
    sock = root.parent / f"{root.name}.sock"
    return subprocess.Popen(
        [str(BIN / "berthd"), "--root", str(root), "-H", f"unix://{sock}", *args],
        stderr=subprocess.PIPE,
        text=True,
    )


def berth(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "berth"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_berthd_exits_1_naming_the_position_and_writes_nothing(
    seeded: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    root = copy_root(seeded, tmp_path_factory.mktemp("corrupt") / "berth")
    _, last = positions(root)
    position = data.draw(st.integers(1, last), label="position")
    corrupt(root, position, data.draw(st.integers(0, 4096), label="byte"))
    before = (root / "events.db").read_bytes()
    process = berthd(root)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, stderr
    assert f"failed verification at position {position}: edited" in stderr
    assert "berth audit verify" in stderr
    assert "Traceback" not in stderr
    assert (root / "events.db").read_bytes() == before
    assert not (root / "projections.db-wal").exists()
    assert not (root.parent / f"{root.name}.sock").exists()


@pytest.fixture
def read_only_berthd(
    seeded: tuple[Path, list[str]], tmp_path: Path
) -> Iterator[tuple[DaemonClient, Path, list[str], subprocess.Popen[str]]]:
    """berthd --ignore-log-verification on a root whose last event (a container's
    `Prepared`... or `Registered` name) is damaged."""
    root = copy_root(seeded, tmp_path / "berth")
    _, last = positions(root)
    corrupt(root, last)
    process = berthd(root, "--ignore-log-verification")
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "berthd ready" in line, line + process.stderr.read()
        assert "read-only: berthd is serving read-only" in line
        assert f"the event log failed verification at position {last};" in line
        client = DaemonClient(f"unix://{root.parent}/{root.name}.sock")
        yield client, root, seeded[1], process
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_read_only_berthd_serves_reads(
    read_only_berthd: tuple[DaemonClient, Path, list[str], subprocess.Popen[str]],
) -> None:
    client, _, ids, _ = read_only_berthd
    assert client.ping()
    listed = client.call("GET", "/containers/json", {"all": "1"})
    assert sorted(c["Id"] for c in listed) == sorted(ids)
    assert client.call("GET", f"/containers/{ids[0]}/json")["Name"] == "/first"
    assert [i["RepoTags"] for i in client.call("GET", "/images/json")] == [["busybox:latest"]]
    logs = client.request("GET", f"/containers/{ids[0]}/logs", {"stdout": "1"}).read()
    assert b"hello from before" in logs
    now = str(int(time.time()))
    events = client.request("GET", "/events", {"since": "0", "until": now}).read()
    assert b'"create"' in events
    # A wait records nothing: it answers for a container that is not running.
    assert "StatusCode" in client.call("POST", f"/containers/{ids[0]}/wait")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]}),
        ("POST", "/containers/{id}/start", None),
        ("POST", "/containers/{id}/kill", None),
        ("POST", "/containers/{id}/rename?name=other", None),
        ("DELETE", "/containers/{id}?force=1", None),
        ("POST", "/containers/prune", None),
        ("POST", "/images/create?fromImage=busybox&tag=latest", None),
        ("POST", "/images/busybox/tag?repo=other&tag=1", None),
        ("DELETE", "/images/busybox?force=1", None),
    ],
)
def test_read_only_berthd_refuses_every_write_with_503(
    read_only_berthd: tuple[DaemonClient, Path, list[str], subprocess.Popen[str]],
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    client, root, ids, _ = read_only_berthd
    before = positions(root)
    with pytest.raises(DaemonError) as refused:
        client.request(method, path.format(id=ids[0]), body=body)
    assert refused.value.status == 503
    assert "berthd is serving read-only: the event log failed verification at position" in str(
        refused.value
    )
    assert "see `berth audit verify`" in str(refused.value)
    assert positions(root) == before


# The in-process CLI ------------------------------------------------------------------------


def test_the_cli_refuses_a_log_that_fails_with_a_clear_message(
    seeded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy_root(seeded, tmp_path / "berth")
    corrupt(root, 2)
    before = positions(root)
    for command in (["ps", "-a"], ["history", "first"], ["inspect", "--at", "#1", "first"]):
        result = berth(root, *command)
        assert result.returncode == 1, result
        assert "the event log failed verification at position 2: edited" in result.stderr
        assert "Traceback" not in result.stderr
    assert positions(root) == before


def test_the_cli_with_the_flag_reads_and_refuses_writes(
    seeded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy_root(seeded, tmp_path / "berth")
    _, last = positions(root)
    corrupt(root, last)
    before = positions(root)
    flag = "--ignore-log-verification"
    listed = berth(root, flag, "ps", "-a", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert '"Names":["/first"]' in listed.stdout.replace(" ", "")
    assert f"berth is serving read-only: the event log failed verification at position {last}" in (
        listed.stderr
    )
    history = berth(root, flag, "history", "first", "--format", "json")
    assert history.returncode == 0, history.stderr
    assert '"action": "Created"' in history.stdout
    for command in (["create", "busybox", "true"], ["rm", "-f", "first"], ["start", "second"]):
        refused = berth(root, flag, *command)
        assert refused.returncode != 0
        assert "berth is serving read-only" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert positions(root) == before


# Damage the start check cannot see ---------------------------------------------------------


def test_a_damaged_event_before_the_last_checkpoint_is_named_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tail check passes (the damage is before the last checkpoint: ADR/0019); reading
    the event says where the damage is."""
    monkeypatch.setattr(chain, "CHECKPOINT_INTERVAL", 2)
    root = tmp_path / "berth"
    seed(root)
    corrupt(root, 2)
    for command in (
        ["history", "first"],
        ["inspect", "--at", "#3", "first"],
        ["projections", "rebuild"],
    ):
        result = berth(root, *command)
        assert result.returncode == 1, result
        assert "the event log is damaged: the event at position 2 " in result.stderr
        assert "see `berth audit verify`" in result.stderr
        assert "Traceback" not in result.stderr


def test_berthd_keeps_serving_when_an_event_is_damaged_under_it(
    seeded: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root = copy_root(seeded, tmp_path / "berth")
    process = berthd(root)
    try:
        assert process.stderr is not None
        assert "berthd ready" in process.stderr.readline()
        client = DaemonClient(f"unix://{root.parent}/{root.name}.sock")
        # Damage the views have not applied yet: they are sent back to the start of the log.
        corrupt(root, 2)
        with sqlite3.connect(root / "projections.db") as conn:
            conn.execute("UPDATE tracking SET notification_id = 0")
        time.sleep(1)  # the follower catches up every 0.2 s
        assert process.poll() is None
        assert client.ping()
        with pytest.raises(DaemonError) as damaged:
            client.call("GET", "/containers/json")
        assert "the event log is damaged: the event at position 2 " in str(damaged.value)
        client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        logged = process.stderr.read()
        assert logged.count("the event log is damaged: the event at position 2 ") == 1
        assert "Traceback" not in logged
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
