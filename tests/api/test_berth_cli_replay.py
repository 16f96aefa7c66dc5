"""`berth replay` of a command log onto a fresh berthd: hand-written, and exported by
`berth audit --format commands`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

from .berth_cli import berth, eventually, state_of
from .conftest import BIN, Berthd


def _record(
    position: int, method: str, path: str, body: object = None, container: str | None = None
) -> str:
    return json.dumps(
        {
            "position": position,
            "time": "2026-11-28T12:00:00Z",
            "actor": {"kind": "cli", "uid": 0, "pid": 1},
            "method": method,
            "path": path,
            "body": body,
            "container": container,
        }
    )


def _create_body(*cmd: str) -> dict[str, object]:
    return {"Image": "busybox", "Cmd": list(cmd), "HostConfig": {"NetworkMode": "none"}}


def command_log(path: Path, web: str, job: str, gone: str, held: str, unknown: str) -> Path:
    """A hand-written command log with made-up original ids, one request failing (#8)."""
    lines = [
        _record(1, "POST", "/containers/create?name=web", _create_body("sleep", "30"), web),
        _record(2, "POST", f"/containers/{web}/start", container=web),
        _record(3, "POST", "/containers/create?name=job", _create_body("sh", "-c", "exit 3"), job),
        _record(4, "POST", f"/containers/{job}/start", container=job),
        _record(5, "POST", "/containers/create?name=gone", _create_body("true"), gone),
        _record(6, "DELETE", f"/containers/{gone}?force=1", container=gone),
        _record(7, "POST", "/containers/create?name=held", _create_body("sleep", "30"), held),
        _record(8, "POST", f"/containers/{unknown}/start", container=unknown),
        _record(9, "POST", f"/containers/{held}/start", container=held),
        _record(10, "POST", f"/containers/{held}/pause", container=held),
        _record(11, "POST", f"/containers/{web}/rename?name=front", container=web),
        _record(12, "POST", "/images/busybox/tag?repo=mybox&tag=v1"),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_dry_run_then_for_real_on_a_fresh_daemon(
    start_berthd: Callable[..., Berthd], tmp_path: Path
) -> None:
    web, job, gone, held, unknown = (secrets.token_hex(32) for _ in range(5))
    log = command_log(tmp_path / "commands.jsonl", web, job, gone, held, unknown)
    daemon = start_berthd(name="replay")

    dry = berth(daemon, "replay", "--dry-run", str(log))
    assert dry.returncode == 0, dry.stderr
    planned = dry.stdout.splitlines()
    assert planned[0] == "#1 POST /containers/create?name=web"
    assert planned[1] == "#2 POST /containers/<new:#1>/start"
    assert planned[5] == "#6 DELETE /containers/<new:#5>?force=1"
    assert planned[7] == f"#8 POST /containers/{unknown}/start"
    assert berth(daemon, "ps", "-aq").stdout == ""  # a dry run sends nothing

    real = berth(daemon, "replay", str(log), timeout=120)
    assert real.returncode == 1  # #8 failed; the replay went on with #9 and later
    done = real.stdout.splitlines()
    assert len(done) == 12
    assert done[7].startswith(f"#8 POST /containers/{unknown}/start -> 404")
    assert done[11] == "#12 POST /images/busybox/tag?repo=mybox&tag=v1 -> 201"
    assert "1 of 12 requests failed" in real.stderr
    new_web = done[0].rsplit(" ", 1)[1]
    assert len(new_web) == 64 and new_web != web
    assert done[1] == f"#2 POST /containers/{new_web}/start -> 204"

    def states() -> dict[str, str]:
        listed = berth(daemon, "ps", "-a", "--format", "json").stdout.splitlines()
        return {json.loads(e)["Names"][0]: json.loads(e)["State"] for e in listed}

    expected = {"/front": "running", "/job": "exited", "/held": "paused"}
    assert eventually(lambda: states() == expected), states()
    assert state_of(daemon, "job")["ExitCode"] == 3
    assert "mybox" in berth(daemon, "images").stdout
    berth(daemon, "unpause", "held")
    assert berth(daemon, "rm", "-f", "front", "job", "held").returncode == 0


def test_replay_needs_a_daemon_and_a_command_log(tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text('{"method": "POST"}\n')
    no_host = subprocess.run(
        [str(BIN / "berth"), "replay", str(log)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "BERTH_HOST"},
        check=False,
    )
    assert no_host.returncode == 2 and "-H or BERTH_HOST" in no_host.stderr
    bad = berth(tmp_path / "none.sock", "replay", "--dry-run", str(log))
    assert bad.returncode == 2 and "line 1: not a command record" in bad.stderr


def test_replay_of_an_exported_log_reproduces_containers_and_states(
    start_berthd: Callable[..., Berthd], tmp_path: Path
) -> None:
    """`berth audit --format commands` on one daemon's root, replayed onto a fresh one."""
    source = start_berthd()
    steps = [
        (
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "web",
            "-l",
            "tier=front",
            "busybox",
            "sleep",
            "300",
        ),
        ("run", "--network", "none", "--name", "job", "busybox", "sh", "-c", "exit 3"),
        ("create", "--network", "none", "--name", "gone", "busybox", "true"),
        ("rm", "gone"),
        ("run", "-d", "--network", "none", "--name", "held", "busybox", "sleep", "300"),
        ("pause", "held"),
        ("rename", "web", "front"),
        ("tag", "busybox", "mybox:v1"),
    ]
    for step in steps:
        done = berth(source, *step)
        assert done.returncode == (3 if "job" in step else 0), done.stderr
    exported = subprocess.run(
        [str(BIN / "berth"), "--root", str(source.root), "audit", "--format", "commands"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    log = tmp_path / "exported.jsonl"
    log.write_text(exported.stdout)
    target = start_berthd(name="target")
    replayed = berth(target, "replay", str(log), timeout=120)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr

    def summary(daemon: Berthd) -> dict[str, tuple[str, object]]:
        listed = berth(daemon, "ps", "-a", "--format", "json").stdout.splitlines()
        entries = [json.loads(line) for line in listed]
        return {e["Names"][0]: (e["State"], e["Labels"]) for e in entries}

    expected = summary(source)
    assert expected == {
        "/front": ("running", {"tier": "front"}),
        "/job": ("exited", {}),
        "/held": ("paused", {}),
    }
    assert eventually(lambda: summary(target) == expected), summary(target)
    # The tag names its source by a tag, not by the image id (which differs here).
    listed = berth(target, "images").stdout
    assert any(line.split()[:2] == ["mybox", "v1"] for line in listed.splitlines()), listed
    for daemon in (source, target):
        berth(daemon, "unpause", "held")
        assert berth(daemon, "rm", "-f", "front", "job", "held").returncode == 0
