"""berth's own CLI in remote mode (-H / BERTH_HOST) against a berthd the test starts.

The same scenarios as the docker CLI's tests (test_docker_cli.py), plus `berth replay`
of a hand-written command log onto a second, fresh berthd.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.images import busybox_layer, make_image
from tests.fixtures.registry import RunningRegistry

from ..integration.conftest import busybox_tarball
from .conftest import BIN, Berthd

UNREACHABLE = "Cannot connect to the berth daemon at unix://{}. Is the berth daemon running?"


def berth(
    daemon: Berthd | Path, *args: str, via_env: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`berth -H unix://SOCKET ARGS` (or with BERTH_HOST set instead of -H)."""
    sock = daemon.socket if isinstance(daemon, Berthd) else daemon
    env = {k: v for k, v in os.environ.items() if k not in ("BERTH_HOST", "BERTH_ROOT")}
    # A root that does not exist: remote mode must never open the engine locally.
    env["BERTH_ROOT"] = "/nonexistent/berth-remote-test"
    host = f"unix://{sock}"
    if via_env:
        env["BERTH_HOST"] = host
        command = [str(BIN / "berth"), *args]
    else:
        command = [str(BIN / "berth"), "-H", host, *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def state_of(daemon: Berthd, ref: str) -> dict[str, object]:
    inspected = berth(daemon, "inspect", ref)
    assert inspected.returncode == 0, inspected.stderr
    (doc,) = json.loads(inspected.stdout)
    state: dict[str, object] = doc["State"]
    return state


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_run_rm_prints_output_and_exits_0_with_berth_host(berthd: Berthd) -> None:
    result = berth(berthd, "run", "--rm", "busybox", "echo", "hi", via_env=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")
    assert berth(berthd, "ps", "-aq", via_env=True).stdout == ""


def test_run_exit_code_and_separate_streams(berthd: Berthd) -> None:
    result = berth(
        berthd, "run", "busybox", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"
    )
    assert result.returncode == 3
    assert (result.stdout, result.stderr) == ("to-stdout\n", "to-stderr\n")
    (entry,) = [
        json.loads(line)
        for line in berth(berthd, "ps", "-a", "--format", "json").stdout.splitlines()
    ]
    assert entry["State"] == "exited" and entry["Status"].startswith("Exited (3)")


def test_run_of_a_missing_command_is_127_and_bad_flags_125(berthd: Berthd) -> None:
    missing = berth(berthd, "run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127
    assert missing.stderr.startswith("Error response from daemon:")
    assert "executable file not found" in missing.stderr
    assert berth(berthd, "ps", "-aq").stdout == ""  # --rm removed it, as dockerd does
    bad = berth(berthd, "run", "-m", "lots", "busybox", "true")
    assert bad.returncode == 125
    assert "invalid size: 'lots'" in bad.stderr


def test_detached_lifecycle_ps_inspect_logs_stop_rm(berthd: Berthd) -> None:
    script = "echo out1; echo err1 >&2; sleep 30"
    run = berth(
        berthd, "run", "-d", "--name", "web1", "-l", "tier=web", "busybox", "sh", "-c", script
    )
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    assert len(container_id) == 64
    table = berth(berthd, "ps").stdout.splitlines()
    assert table[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert table[1].startswith(container_id[:12] + "   busybox   ")
    assert table[1].endswith("web1") and "Up " in table[1]
    assert (
        berth(berthd, "ps", "-q", "--filter", "label=tier=web").stdout == container_id[:12] + "\n"
    )
    assert berth(berthd, "ps", "-q", "--no-trunc").stdout == container_id + "\n"
    assert state_of(berthd, "web1")["Running"] is True
    assert eventually(lambda: berth(berthd, "logs", "web1").stderr == "err1\n")
    logs = berth(berthd, "logs", "web1")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "out1\n", "err1\n")
    stamped = berth(berthd, "logs", "-t", "web1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1\n", stamped.stdout)
    assert berth(berthd, "logs", "--tail", "0", "web1").stdout == ""
    started = time.monotonic()
    stop = berth(berthd, "stop", "-t", "1", "web1")
    assert (stop.returncode, stop.stdout) == (0, "web1\n"), stop.stderr
    assert time.monotonic() - started < 8
    state = state_of(berthd, "web1")
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    exited = berth(berthd, "ps", "-a", "-q", "--filter", "exited=137")
    assert exited.stdout == container_id[:12] + "\n"
    assert berth(berthd, "rm", "web1").returncode == 0
    assert berth(berthd, "ps", "-aq").stdout == ""
    gone = berth(berthd, "inspect", "web1")
    assert (gone.returncode, gone.stderr) == (1, "Error: No such object: web1\n")


def test_logs_follow_ends_when_the_container_exits(berthd: Berthd) -> None:
    script = "echo a; sleep 1; echo b >&2"
    run = berth(berthd, "run", "-d", "--name", "follow", "busybox", "sh", "-c", script)
    assert run.returncode == 0, run.stderr
    logs = berth(berthd, "logs", "-f", "follow", timeout=20)
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "a\n", "b\n")


def test_run_with_a_taken_name_is_a_conflict(berthd: Berthd) -> None:
    assert berth(berthd, "create", "--name", "taken", "busybox", "true").returncode == 0
    result = berth(berthd, "run", "--name", "taken", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith(
        'Error response from daemon: Conflict. The container name "/taken" is already in use'
    )


def test_cidfile_is_written_and_an_existing_one_refused(berthd: Berthd, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    run = berth(berthd, "run", "-d", "--cidfile", str(cidfile), "busybox", "true")
    assert run.returncode == 0, run.stderr
    assert cidfile.read_text() == run.stdout.strip()
    again = berth(berthd, "run", "--cidfile", str(cidfile), "busybox", "true")
    assert again.returncode == 125
    assert "Container ID file found" in again.stderr
    assert berth(berthd, "ps", "-aq").stdout.split() == [run.stdout.strip()[:12]]


def test_kill_restart_pause_unpause_rename_wait(berthd: Berthd) -> None:
    assert berth(berthd, "run", "-d", "--name", "svc", "busybox", "sleep", "30").returncode == 0
    assert berth(berthd, "pause", "svc").stdout == "svc\n"
    assert state_of(berthd, "svc")["Status"] == "paused"
    assert berth(berthd, "unpause", "svc").returncode == 0
    assert berth(berthd, "rename", "svc", "svc2").returncode == 0
    restarted = berth(berthd, "restart", "-t", "0", "svc2")
    assert restarted.returncode == 0, restarted.stderr
    assert state_of(berthd, "svc2")["Running"] is True
    assert berth(berthd, "kill", "svc2").returncode == 0
    wait = berth(berthd, "wait", "svc2")
    assert (wait.returncode, wait.stdout) == (0, "137\n")
    again = berth(berthd, "kill", "svc2")
    assert again.returncode == 1
    assert again.stderr.startswith("Error response from daemon:")
    assert "is not running" in again.stderr
    refused = berth(berthd, "rm", "svc2", "nothere")
    assert refused.returncode == 1  # docker goes on after a failed ref, then exits 1
    assert refused.stdout == "svc2\n"
    assert "No such container: nothere" in refused.stderr


def test_images_tag_inspect_rmi(berthd: Berthd) -> None:
    listed = berth(berthd, "images").stdout.splitlines()
    assert listed[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listed[1].split()[:2] == ["busybox", "latest"]
    assert berth(berthd, "tag", "busybox", "mybox:v1").returncode == 0
    assert "mybox" in berth(berthd, "images").stdout
    inspected = berth(berthd, "inspect", "mybox:v1")
    assert inspected.returncode == 0, inspected.stderr
    (image,) = json.loads(inspected.stdout)
    assert image["Id"].startswith("sha256:")
    assert berth(berthd, "images", "-q").stdout.strip() == image["Id"][7:19]
    removed = berth(berthd, "rmi", "mybox:v1")
    assert (removed.returncode, removed.stdout) == (0, "Untagged: mybox:v1\n")
    missing = berth(berthd, "rmi", "nothere")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error response from daemon:")


def test_pull_and_run_of_an_image_not_yet_pulled(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    registry.push("library/busybox", make_image([busybox_layer()]))
    registry.push("library/other", make_image([busybox_layer()]))
    daemon = start_berthd(insecure=(registry.host,))
    ref = f"{registry.host}/library/busybox:latest"
    pull = berth(daemon, "pull", ref)
    assert pull.returncode == 0, pull.stderr
    assert pull.stdout.splitlines()[-1] == ref
    assert f"{registry.host}/library/busybox" in berth(daemon, "images").stdout
    as_json = berth(daemon, "pull", "--json", ref)
    messages = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert messages[-1]["status"].startswith("Status: Image is up to date for")
    other = f"{registry.host}/library/other:latest"
    run = berth(daemon, "run", "--rm", other, "echo", "pulled")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "pulled\n"
    assert f"Unable to find image '{other}' locally" in run.stderr
    never = berth(daemon, "run", "--pull", "never", f"{registry.host}/library/absent", "true")
    assert never.returncode == 125
    assert "No such image" in never.stderr
    missing = berth(daemon, "pull", f"{registry.host}/library/absent:latest")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error response from daemon:")


def test_events_since_until_and_filters(berthd: Berthd) -> None:
    since = f"{time.time() - 1:.3f}"
    run = berth(berthd, "run", "--name", "evt", "busybox", "true")
    assert run.returncode == 0, run.stderr
    container_id = json.loads(berth(berthd, "inspect", "evt").stdout)[0]["Id"]
    listed = berth(
        berthd, "events", "--since", since, "--until", "0s", "--format", "json", timeout=20
    )
    assert listed.returncode == 0, listed.stderr
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    actions = [
        e["Action"] for e in events if e["Type"] == "container" and e["Actor"]["ID"] == container_id
    ]
    assert actions[0] == "create"
    assert {"start", "die"} <= set(actions)
    only = berth(
        berthd, "events", "--since", since, "--until", "0s", "--filter", "event=start", timeout=20
    )
    lines = only.stdout.splitlines()
    assert lines and all(" container start " in line for line in lines)
    assert any(container_id in line for line in lines)
    before = berth(berthd, "events", "--since", "#0", "--until", since, "--format", "json")
    assert before.returncode == 0, before.stderr
    assert container_id not in before.stdout


def test_version_and_info_speak_to_the_daemon(berthd: Berthd) -> None:
    version = berth(berthd, "version")
    assert version.returncode == 0, version.stderr
    assert "Server:" in version.stdout and "API version:  1.41" in version.stdout
    info = berth(berthd, "info")
    assert "Images: 1" in info.stdout
    assert f"Root Dir: {berthd.root}" in info.stdout


def test_unreachable_daemon_message(tmp_path: Path) -> None:
    sock = tmp_path / "nobody.sock"
    listing = berth(sock, "ps")
    assert (listing.returncode, listing.stderr) == (1, UNREACHABLE.format(sock) + "\n")
    run = berth(sock, "run", "--rm", "busybox", "true")
    assert (run.returncode, run.stderr) == (125, UNREACHABLE.format(sock) + "\n")
    tcp = subprocess.run(
        [str(BIN / "berth"), "-H", "tcp://127.0.0.1:2375", "ps"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tcp.returncode == 2 and "unix:///PATH" in tcp.stderr


# Replay --------------------------------------------------------------------------------------


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


def test_load_and_import_send_the_archive(
    berthd: Berthd, registry: RunningRegistry, tmp_path: Path
) -> None:
    registry.push("saved", make_image([busybox_layer()]))
    archive = tmp_path / "saved.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{registry.host}/saved:latest",
            f"docker-archive:{archive}:saved:v1",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    loaded = berth(berthd, "load", "-i", str(archive))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: saved:v1\n"), loaded.stderr
    imported = berth(
        berthd, "import", "-m", "by test", str(busybox_tarball(tmp_path / "bb.tar")), "imported:1"
    )
    assert imported.returncode == 0, imported.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", imported.stdout)
    listed = berth(berthd, "images").stdout
    assert "saved " in listed and "imported " in listed
    run = berth(berthd, "run", "--rm", "imported:1", "echo", "from-import")
    assert (run.returncode, run.stdout) == (0, "from-import\n"), run.stderr
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar archive")
    refused = berth(berthd, "load", "-i", str(broken))
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error response from daemon: invalid image archive")


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
            "30",
        ),
        ("run", "--network", "none", "--name", "job", "busybox", "sh", "-c", "exit 3"),
        ("create", "--network", "none", "--name", "gone", "busybox", "true"),
        ("rm", "gone"),
        ("run", "-d", "--network", "none", "--name", "held", "busybox", "sleep", "30"),
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
