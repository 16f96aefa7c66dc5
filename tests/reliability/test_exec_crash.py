"""berthd killed at each step of an exec, then started again: the exec ends with its true
exit code (126 if it never started), `exec_die` is in the log, and its monitor's files
are gone."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable

import docker
import pytest

from ..fixtures.berthd import Berthd

SETTLE_S = 30


@pytest.mark.parametrize(
    ("point", "exit_code"),
    [("exec.start_requested", 126), ("exec.monitor_started", 5), ("exec.exit_recorded", 5)],
)
def test_an_exec_cut_short_by_a_crash_ends_with_its_true_code(
    point: str, exit_code: int, start_berthd: Callable[..., Berthd]
) -> None:
    crashing = start_berthd(env={"BERTH_CRASH_AT": point})
    api = docker.APIClient(base_url=f"unix://{crashing.socket}", version="1.41", timeout=30)
    container_id = api.create_container("busybox", ["sleep", "1000"])["Id"]
    api.start(container_id)
    exec_id = api.exec_create(container_id, ["sh", "-c", "sleep 0.5; exit 5"])["Id"]
    with contextlib.suppress(Exception):  # berthd dies under the request
        api.exec_start(exec_id)
    assert crashing.wait_killed() == -signal.SIGKILL, f"{point} was never reached"

    daemon = start_berthd()
    api = docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=30)
    deadline = time.monotonic() + SETTLE_S
    while (shown := api.exec_inspect(exec_id))["ExitCode"] is None:
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    assert (shown["ExitCode"], shown["Running"]) == (exit_code, False)
    exec_dir = daemon.root / "run" / "monitor" / container_id / "exec" / exec_id
    while exec_dir.exists():  # the watcher removes it once the exit is recorded
        assert time.monotonic() < deadline, f"{exec_dir} is left"
        time.sleep(0.2)
    events = api.events(since=0, until=int(time.time()) + 1, decode=True,
                        filters={"container": container_id})  # fmt: skip
    died = [e for e in events if e["Action"] == "exec_die"]
    assert [e["Actor"]["Attributes"]["exitCode"] for e in died] == (
        [] if exit_code == 126 else ["5"]  # dockerd has no exec_die for a failed start
    )
