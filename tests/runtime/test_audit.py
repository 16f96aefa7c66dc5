"""History, audit, inspect --at and the command export, over a scripted lifecycle."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from berth.domain.cause import Actor, ActorKind
from berth.domain.errors import InvalidParameter
from berth.domain.timestamps import LATEST, parse_duration
from berth.runtime.service.engine import Engine
from berth.runtime.store.events import EventStore, LoggedEvent
from berth.runtime.views import audit, commands
from berth.runtime.views import projections as views
from berth.runtime.views.audit import AuditView
from berth.runtime.views.moments import Moment, parse_moment

from ..conftest import ENGINE_ACTOR, seed_busybox
from ..fixtures.berthd import Berthd

API = Actor(ActorKind.API, uid=1000, pid=4242, command="docker pause web")
CLI = Actor(ActorKind.CLI, uid=0, pid=777, command="berth unpause web2")

EXPECTED = [
    ("Created", "api"),
    ("Renamed", "cli"),
    ("StartRequested", "api"),
    ("Started", "engine"),
    ("Paused", "api"),
    ("Unpaused", "cli"),
    ("StopRequested", "api"),
    ("Exited", "engine"),
    ("RemovalRequested", "api"),
    ("Removed", "api"),
]


def berth(*args: str) -> Result:
    from click.testing import CliRunner

    from berth.runtime.cli.main import main

    return CliRunner().invoke(main, list(args))


@dataclass
class Scripted:
    """The container's id, and after each step: the log position, the time and the
    document `inspect` showed then (None once removed)."""

    root: Path
    container_id: str
    steps: list[tuple[str, int, datetime, dict[str, Any] | None]] = field(default_factory=list)


@pytest.fixture
def scripted(root: Path) -> Iterator[Scripted]:
    # The real clock, as the CLI's rename in the middle uses: times follow the log order.
    with Engine(root) as engine:
        seed_busybox(engine)
        cid = engine.create_container({"Image": "busybox", "Cmd": ["top"]}, "web", API).id
        run = Scripted(root, cid)

        def step(name: str) -> None:
            engine.catch_up()
            row = engine.views.container_row(cid)
            run.steps.append(
                (name, engine.store.max_position(), engine.now(), row["doc"] if row else None)
            )

        step("create")
        renamed = berth("--root", str(root), "rename", "web", "web2")
        assert renamed.exit_code == 0, renamed.output
        step("rename")
        engine.start(cid, API)
        engine.record(cid, lambda c, k: c.mark_started(4321, k.at, k), ENGINE_ACTOR)
        step("start")
        engine.pause(cid, API)
        step("pause")
        engine.unpause(cid, CLI)
        step("unpause")
        engine.stop(cid, API, timeout=3)
        engine.record(cid, lambda c, k: c.mark_exited(0, False, k.at, k), ENGINE_ACTOR)
        step("stop")
        engine.remove(cid, API)
        step("rm")
        yield run


def test_history_lists_exactly_the_scripted_events_with_their_actors(scripted: Scripted) -> None:
    result = berth("--root", str(scripted.root), "history", "--format", "json", "web2")
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["action"], e["actor"]["kind"]) for e in entries] == EXPECTED
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    by_action = {e["action"]: e for e in entries}
    assert by_action["Paused"]["actor"] == {
        "kind": "api",
        "uid": 1000,
        "pid": 4242,
        "command": "docker pause web",
    }
    renamed = by_action["Renamed"]
    # The CLI records its own argv (pytest's here) and process.
    assert renamed["actor"]["uid"] == os.getuid()
    assert renamed["actor"]["pid"] == os.getpid()
    assert renamed["actor"]["command"]
    assert renamed["changes"]["name"] == {"before": "/web", "after": "/web2"}
    assert by_action["Started"]["changes"]["state"] == {"before": "starting", "after": "running"}
    assert by_action["Removed"]["changes"]["state"]["after"] == "removed"
    assert by_action["StopRequested"]["details"] == {"signal": "SIGTERM", "timeout": 3}


def test_history_table_shows_command_lines_and_before_after(scripted: Scripted) -> None:
    result = berth("--root", str(scripted.root), "history", scripted.container_id)
    assert result.exit_code == 0, result.output
    assert "api uid=1000 pid=4242 (docker pause web)" in result.output
    assert "name: /web → /web2" in result.output
    assert "state: running → paused" in result.output


def audit_json(root: Path, *args: str) -> list[dict[str, Any]]:
    result = berth("--root", str(root), "audit", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_audit_of_the_container_has_exactly_those_events(scripted: Scripted) -> None:
    entries = audit_json(scripted.root, "--container", "web2")
    assert [(e["action"], e["actor"]["kind"]) for e in entries] == EXPECTED
    assert {e["id"] for e in entries} == {scripted.container_id}
    assert [e["name"] for e in entries[:2]] == ["/web", "/web2"]
    assert entries[-1]["name"] == "/web2"
    # The whole log also holds the image load; the container's part is the same.
    everything = audit_json(scripted.root)
    assert [e for e in everything if e["type"] == "container"] == entries
    assert [e["action"] for e in everything if e["type"] == "image"] == ["Loaded"]


def test_audit_filters_by_user_action_and_time(scripted: Scripted) -> None:
    root = scripted.root
    by_user = audit_json(root, "--user", "1000")
    assert [e["action"] for e in by_user] == [
        "Created",
        "StartRequested",
        "Paused",
        "StopRequested",
        "RemovalRequested",
        "Removed",
    ]
    assert [e["action"] for e in audit_json(root, "--user", "root")] == ["Renamed", "Unpaused"]
    assert [e["action"] for e in audit_json(root, "--action", "pause", "--action", "rm")] == [
        "Paused",
        "RemovalRequested",
        "Removed",
    ]
    _, after_start, start_time, _ = scripted.steps[2]
    _, after_unpause, _, _ = scripted.steps[4]
    window = audit_json(root, "--since", f"#{after_start}", "--until", f"#{after_unpause}")
    assert [e["action"] for e in window] == ["Paused", "Unpaused"]
    since = audit_json(root, "--since", (start_time + timedelta(microseconds=1)).isoformat())
    assert since[0]["action"] == "Paused"
    assert audit_json(root, "--since", "1h") == audit_json(root)
    assert audit_json(root, "--until", "2000-01-01T00:00:00Z") == []


def test_audit_rejects_bad_input(scripted: Scripted) -> None:
    for args, message in (
        (["--since", "yesterday"], "invalid time 'yesterday'"),
        (["--until", "#x"], "invalid log position"),
        (["--user", "no-such-user-here"], "no such user"),
        (["--container", "nothing"], "No such container: nothing"),
    ):
        result = berth("--root", str(scripted.root), "audit", *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output


def test_commands_export_the_users_requests_as_docker_api_calls(scripted: Scripted) -> None:
    result = berth("--root", str(scripted.root), "audit", "--format", "commands")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    cid = scripted.container_id
    assert [(line["method"], line["path"]) for line in lines] == [
        ("POST", "/containers/create?name=web"),
        ("POST", f"/containers/{cid}/rename?name=web2"),
        ("POST", f"/containers/{cid}/start"),
        ("POST", f"/containers/{cid}/pause"),
        ("POST", f"/containers/{cid}/unpause"),
        ("POST", f"/containers/{cid}/stop?t=3"),
        ("DELETE", f"/containers/{cid}?force=false"),
    ]
    assert {line["container"] for line in lines} == {cid}
    assert [line["actor"]["kind"] for line in lines] == [
        "api",
        "cli",
        "api",
        "api",
        "cli",
        "api",
        "api",
    ]
    create = lines[0]["body"]
    assert create["Image"] == "busybox"
    assert create["Cmd"] == ["top"]
    assert "Hostname" not in create  # derived from the old id: the new container derives its own
    assert create["HostConfig"]["NetworkMode"] in ("default", "bridge")
    assert all(line["body"] is None for line in lines[1:])
    positions = [line["position"] for line in lines]
    assert positions == sorted(positions)


def test_image_requests_are_exported_once_per_request() -> None:
    def entry(position: int, action: str, correlation: str, **shown: Any) -> dict[str, Any]:
        return {
            "position": position,
            "time": "t",
            "action": action,
            "type": "image",
            "id": "sha256:" + "a" * 64,
            "name": "x",
            "actor": {"kind": "api", "uid": 0, "pid": 1, "command": None},
            "correlation_id": correlation,
            "details": shown,
        }

    entries = [
        entry(1, "Pulled", "a", reference="docker.io/library/busybox:1.36"),
        entry(2, "Pulled", "b", reference="localhost:5000/app@sha256:" + "b" * 64),
        entry(3, "Tagged", "c", reference="localhost:5000/app:v2"),
        entry(4, "Untagged", "d", reference="localhost:5000/app:v2"),
        entry(5, "Untagged", "e", reference="docker.io/library/busybox:1.36"),
        entry(6, "Deleted", "e"),
        entry(7, "Untagged", "f", reference="a:1"),
        entry(8, "Untagged", "f", reference="a:2"),
        entry(9, "Deleted", "f"),
        {**entry(10, "Pulled", "g", reference="x:1"), "actor": {"kind": "engine"}},
    ]
    image = "sha256:" + "a" * 64
    assert [(c["method"], c["path"]) for c in commands.export(entries, lambda p: {})] == [
        ("POST", "/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=1.36"),
        ("POST", "/images/create?fromImage=localhost%3A5000%2Fapp&tag=sha256%3A" + "b" * 64),
        # The source is a tag the image already had: ids differ between daemons.
        ("POST", "/images/docker.io/library/busybox:1.36/tag?repo=localhost%3A5000%2Fapp&tag=v2"),
        ("DELETE", "/images/localhost:5000/app:v2"),
        ("DELETE", "/images/docker.io/library/busybox:1.36"),
        ("DELETE", f"/images/{image}?force=true"),
    ]


def test_inspect_at_matches_the_state_after_each_step(scripted: Scripted) -> None:
    for name, position, moment, doc in scripted.steps:
        for at in (f"#{position}", moment.isoformat()):
            result = berth(
                "--root", str(scripted.root), "inspect", "--at", at, scripted.container_id
            )
            if doc is None:
                assert result.exit_code == 1, (name, at)
                assert "No such container" in result.output
            else:
                assert result.exit_code == 0, (name, at, result.output)
                assert json.loads(result.output) == [doc], (name, at)


def test_inspect_at_finds_a_removed_container_by_its_last_name(scripted: Scripted) -> None:
    _, position, _, doc = scripted.steps[3]  # paused
    result = berth("--root", str(scripted.root), "inspect", "--at", f"#{position}", "web2")
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.output)
    assert found == doc
    assert found["State"]["Status"] == "paused"
    before = berth("--root", str(scripted.root), "inspect", "--at", "#1", "web2")
    assert before.exit_code == 1
    assert "No such container: web2 at #1" in before.output


def test_rebuilt_audit_view_equals_the_incremental_one(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Engine(scripted.root) as engine:
        view = AuditView(scripted.root / "projections.db")
        try:
            # Caught up a few events at a time, as queries between requests do.
            with monkeypatch.context() as patched:
                patched.setattr(audit, "BATCH_SIZE", 3)
                view.catch_up(engine.store)
            incremental = view.dump()
            assert len(incremental) == len(audit_json(scripted.root))
            assert view.rebuild(engine.store) == engine.store.max_position()
            assert view.dump() == incremental
        finally:
            view.close()
        fresh = AuditView(scripted.root / "fresh.db")
        try:
            fresh.catch_up(engine.store)
            assert fresh.dump() == incremental
        finally:
            fresh.close()
    result = berth("--root", str(scripted.root), "audit", "rebuild")
    assert result.exit_code == 0, result.output
    assert "rebuilt the audit view up to log position" in result.output


def test_one_pass_rebuilds_the_views_and_the_audit_view_alike(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Engine(scripted.root) as engine:
        engine.catch_up()
        views_before = engine.views.dump()
        audit_before = audit_json(scripted.root)
        monkeypatch.setattr(views, "BATCH_SIZE", 4)  # several shared batches
        read: list[int] = []
        read_log = EventStore.read_log

        def counted(store: EventStore, *args: Any, **kwargs: Any) -> list[LoggedEvent]:
            batch = read_log(store, *args, **kwargs)
            read.extend(e.position for e in batch)
            return batch

        monkeypatch.setattr(EventStore, "read_log", counted)
        result = berth("--root", str(scripted.root), "audit", "rebuild", "--all")
        assert result.exit_code == 0, result.output
        assert "rebuilt the audit view and the views up to log position" in result.output
        assert read == list(range(1, engine.store.max_position() + 1))  # each event once
        assert engine.views.position() == engine.store.max_position()
        assert engine.views.dump() == views_before
        assert audit_json(scripted.root) == audit_before


def test_the_audit_view_is_caught_up_only_when_queried(scripted: Scripted) -> None:
    with Engine(scripted.root) as engine:
        engine.catch_up()
        view = AuditView(scripted.root / "projections.db")
        try:
            assert view.position() == 0  # the engine's own views never feed it
            assert engine.views.position() == engine.store.max_position()
            audit_json(scripted.root)
            assert view.position() == engine.store.max_position()
        finally:
            view.close()


def test_moments() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_moment("#42", now) == Moment(position=42)
    assert parse_moment("10m", now) == Moment(time=now - timedelta(minutes=10))
    assert parse_moment("1h30m", now) == Moment(time=now - timedelta(minutes=90))
    assert parse_moment("1.5s", now) == Moment(time=now - timedelta(seconds=1.5))
    assert parse_moment("1700000000", now) == Moment(time=datetime.fromtimestamp(1700000000, UTC))
    assert parse_moment("1700000000.25", now).time == datetime.fromtimestamp(1700000000.25, UTC)
    assert parse_moment("2026-11-28T10:00:00Z", now) == Moment(
        time=datetime(2026, 11, 28, 10, tzinfo=UTC)
    )
    assert parse_moment("2026-11-28T11:00:00.5+01:00", now).time == datetime(
        2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC
    )
    assert parse_duration("10") is None
    assert parse_duration("m") is None
    # Unix seconds past what a datetime holds are its last moment, as dockerd reads them...
    assert parse_moment("99999999999999999", now) == Moment(time=LATEST)
    # ... and what is no time, or a duration no datetime can reach back to, is a 400, not
    # an overflow deep in a query.
    for bad in ("#", "#-1", "soon", "10x", "", "99999999999999h"):
        with pytest.raises(InvalidParameter):
            parse_moment(bad, now)


def test_the_api_callers_command_line_reaches_history_and_audit(berthd: Berthd) -> None:
    """Through berthd and the real docker CLI: the socket's peer is the docker process."""
    for args in (("create", "--name", "web", "busybox", "true"), ("rename", "web", "web2")):
        done = berthd.docker(*args)
        assert done.returncode == 0, done.stderr
    assert berthd.docker("rm", "web2").returncode == 0
    history = berthd.berth("history", "--format", "json", "web2")
    assert history.returncode == 0, history.stderr
    entries = {e["action"]: e for e in map(json.loads, history.stdout.splitlines())}
    renamed = entries["Renamed"]["actor"]
    assert renamed["kind"] == "api"
    assert renamed["uid"] == os.getuid()
    assert renamed["command"].endswith("rename web web2")
    assert entries["Renamed"]["changes"]["name"] == {"before": "/web", "after": "/web2"}
    assert entries["Created"]["actor"]["command"].endswith("create --name web busybox true")
    table = berthd.berth("history", "web2").stdout
    # The table wraps long command lines inside their column.
    assert f"api uid={os.getuid()} pid={renamed['pid']} (/" in table
    assert "rename web" in table
    exported = berthd.berth("audit", "--format", "commands")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    cid = lines[0]["container"]
    assert [(line["method"], line["path"]) for line in lines] == [
        ("POST", "/containers/create?name=web"),
        ("POST", f"/containers/{cid}/rename?name=web2"),
        ("DELETE", f"/containers/{cid}?force=false"),
    ]
    assert lines[0]["body"]["Cmd"] == ["true"]


def test_a_real_lifecycle_through_berthd_is_audited_with_its_actors(berthd: Berthd) -> None:
    """create, rename, start, pause, unpause, stop, rm with the docker CLI, real runc."""
    steps = [
        ("create", "--name", "life", "busybox", "sleep", "30"),
        ("rename", "life", "life2"),
        ("start", "life2"),
        ("pause", "life2"),
        ("unpause", "life2"),
        ("stop", "-t", "1", "life2"),
        ("rm", "life2"),
    ]
    for args in steps:
        done = berthd.docker(*args)
        assert done.returncode == 0, (args, done.stderr)
    audit = berthd.berth("audit", "--format", "json", "--container", "life2")
    assert audit.returncode == 0, audit.stderr
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    by_users = [
        (e["action"], e["actor"]["command"].split(" ", 3)[-1])
        for e in entries
        if e["actor"]["kind"] == "api" and e["action"] in commands.REQUEST_ACTIONS
    ]
    assert by_users == [
        ("Created", "create --name life busybox sleep 30"),
        ("Renamed", "rename life life2"),
        ("StartRequested", "start life2"),
        ("Paused", "pause life2"),
        ("Unpaused", "unpause life2"),
        ("StopRequested", "stop -t 1 life2"),
        ("RemovalRequested", "rm life2"),
    ]
    actions = [e["action"] for e in entries]
    # Outcomes come from the runner: a real start and exit happened in between.
    assert actions.index("StartRequested") < actions.index("Started") < actions.index("Paused")
    assert actions.index("StopRequested") < actions.index("Exited") < actions.index("Removed")
    history = berthd.berth("history", "--format", "json", "life2")
    assert [json.loads(line)["action"] for line in history.stdout.splitlines()] == actions
