"""berthd killed between a network's create and a container's connect to it: after a
restart nothing is half made — the network's bridge exists, the connect is carried out
(the container answers on the network), and everything goes cleanly."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest

from berth.runtime.service.network_files import default_bridge_name, user_bridge_name

from ..fixtures.network import link_exists
from .conftest import Berthd


@pytest.mark.parametrize(
    "point", ["network.recorded", "connect.joined", "connect.allocated", "connect.attached"]
)
def test_killed_between_network_create_and_connect(
    point: str, start_berthd: Callable[..., Berthd]
) -> None:
    crashing = start_berthd(env={"BERTH_CRASH_AT": point})
    made = crashing.docker("network", "create", "--subnet", "10.222.0.0/24", "mid")
    if point != "network.recorded":
        assert made.returncode == 0, made.stderr
        run = crashing.docker("run", "-d", "--name", "midbox", "busybox", "sleep", "120")
        assert run.returncode == 0, run.stderr
        crashing.docker("network", "connect", "--ip", "10.222.0.5", "mid", "midbox")
    assert crashing.wait_killed() == -signal.SIGKILL
    daemon = start_berthd()
    (network,) = json.loads(daemon.docker("network", "inspect", "mid").stdout)
    assert link_exists(user_bridge_name(default_bridge_name(daemon.root), network["Id"]))
    if point == "network.recorded":
        return
    (box,) = json.loads(daemon.docker("inspect", "midbox").stdout)
    assert box["State"]["Running"]
    assert box["NetworkSettings"]["Networks"]["mid"]["IPAddress"] == "10.222.0.5"
    assert [m["Name"] for m in network["Containers"].values()] == ["midbox"]
    reached = daemon.docker(
        "run", "--rm", "--network", "mid", "busybox", "ping", "-c1", "-W2", "10.222.0.5"
    )
    assert reached.returncode == 0, reached.stdout + reached.stderr
