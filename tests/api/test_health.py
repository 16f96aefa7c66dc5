"""Health checks through berthd with the docker CLI: a CMD-SHELL probe testing a file the
test creates and removes (a bind mount) flips the container healthy → unhealthy →
healthy, with `health_status` events in order, `State.Health` in inspect, the status in
`ps` and its `health` filter."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from .conftest import Berthd

WAIT_S = 60.0
PROBE = ("--health-cmd", "test -e /probe/ok", "--health-interval", "200ms",
         "--health-retries", "2", "--health-timeout", "5s")  # fmt: skip


def health_of(berthd: Berthd, name: str) -> dict[str, object]:
    shown = berthd.docker("inspect", name)
    assert shown.returncode == 0, shown.stderr
    found: dict[str, object] = json.loads(shown.stdout)[0]["State"].get("Health") or {}
    return found


def until_status(berthd: Berthd, name: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        health = health_of(berthd, name)
        if health.get("Status") == status:
            return health
        time.sleep(0.1)
    raise AssertionError(f"{name} never became {status}: {health_of(berthd, name)}")


def listed(berthd: Berthd, *filters: str) -> list[str]:
    shown = berthd.docker("ps", "--format", "{{.Names}} {{.Status}}", *filters)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()


def test_a_probe_flips_healthy_unhealthy_healthy_with_events(
    berthd: Berthd, tmp_path: Path
) -> None:
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "ok").write_text("")
    since = str(int(time.time()) - 1)
    try:
        ran = berthd.docker("run", "-d", "--name", "probed", "-v", f"{probe_dir}:/probe:ro",
                            *PROBE, "busybox", "sleep", "300")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        healthy = until_status(berthd, "probed", "healthy")
        assert healthy["FailingStreak"] == 0
        assert listed(berthd, "--filter", "health=healthy")[0].endswith("(healthy)")
        assert listed(berthd, "--filter", "health=unhealthy") == []
        (probe_dir / "ok").unlink()
        unhealthy = until_status(berthd, "probed", "unhealthy")
        assert isinstance(unhealthy["FailingStreak"], int) and unhealthy["FailingStreak"] >= 2
        log = unhealthy["Log"]
        assert isinstance(log, list) and 1 <= len(log) <= 5
        assert log[-1]["ExitCode"] == 1
        assert listed(berthd, "--filter", "health=unhealthy")[0].endswith("(unhealthy)")
        (probe_dir / "ok").write_text("")
        until_status(berthd, "probed", "healthy")
        assert berthd.docker("pause", "probed").returncode == 0
        assert listed(berthd, "--filter", "health=healthy") == []  # paused: "(Paused)"
        assert berthd.docker("unpause", "probed").returncode == 0
        until = str(int(time.time()) + 1)
        events = berthd.docker(
            "events", "--since", since, "--until", until,
            "--filter", "event=health_status", "--format", "{{.Action}}",
        )  # fmt: skip
    finally:
        berthd.docker("rm", "-f", "probed")
    assert events.stdout.splitlines()[:3] == [
        "health_status: healthy",
        "health_status: unhealthy",
        "health_status: healthy",
    ]


def test_a_bad_health_filter_and_a_start_interval_are_refused(berthd: Berthd) -> None:
    bad = berthd.docker("ps", "--filter", "health=sick")
    assert bad.returncode != 0
    assert "Unrecognised filter value for health: sick" in bad.stderr
    refused = berthd.docker("create", "--health-cmd", "true", "--health-start-interval", "1s",
                            "busybox", "true")  # fmt: skip
    assert refused.returncode != 0
    assert "StartInterval" in refused.stderr or "start-interval" in refused.stderr


def test_probes_resume_after_berthd_is_killed_and_the_status_is_kept(
    start_berthd: Callable[..., Berthd], tmp_path: Path
) -> None:
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "ok").write_text("")
    first = start_berthd()
    ran = first.docker("run", "-d", "--name", "probed", "-v", f"{probe_dir}:/probe:ro",
                       *PROBE, "busybox", "sleep", "300")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    before = until_status(first, "probed", "healthy")
    first.process.kill()
    first.wait_killed()
    second = start_berthd()
    try:
        kept = health_of(second, "probed")
        assert kept["Status"] == "healthy"
        kept_log, log_before = kept["Log"], before["Log"]
        assert isinstance(kept_log, list) and isinstance(log_before, list)
        assert len(kept_log) >= len(log_before) > 0
        (probe_dir / "ok").unlink()
        until_status(second, "probed", "unhealthy")
    finally:
        assert second.docker("rm", "-f", "probed").returncode == 0
