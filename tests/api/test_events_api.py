"""`docker events` against berthd: served from the log, across a daemon restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .conftest import Berthd


def test_docker_events_since_until_and_history_across_restart(
    start_berthd: Callable[..., Berthd],
) -> None:
    berthd = start_berthd()
    start = int(time.time()) - 1
    ran = berthd.docker("run", "--name", "evented", "busybox", "sh", "-c", "exit 3")
    assert ran.returncode == 3
    assert berthd.docker("rm", "evented").returncode == 0
    berthd.stop()
    berthd = start_berthd()  # history from before the restart is still there
    end = int(time.time()) + 1
    listed = berthd.docker(
        "events",
        "--since",
        str(start),
        "--until",
        str(end),
        "--filter",
        "type=container",
        "--format",
        "{{json .}}",
    )
    assert listed.returncode == 0, listed.stderr
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    actions = [e["Action"] for e in events if e["Actor"]["Attributes"].get("name") == "evented"]
    assert actions[0] == "create"
    assert "start" in actions and actions[-1] == "destroy"
    die = next(e for e in events if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "3"
    assert die["Type"] == "container" and isinstance(die["timeNano"], int)
    only_die = berthd.docker(
        "events",
        "--since",
        str(start),
        "--until",
        str(end),
        "--filter",
        "event=die",
        "--format",
        "{{.Action}}",
    )
    assert only_die.stdout.split() == ["die"]
