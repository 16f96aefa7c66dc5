"""`berth network ...` against berthd: the same answers as the docker CLI's."""

from __future__ import annotations

import json

from .conftest import Berthd


def test_berth_network_commands(berthd: Berthd) -> None:
    made = berthd.berth(
        "network", "create", "--subnet", "10.220.0.0/24", "--label", "a=b", "--internal", "cli"
    )
    assert made.returncode == 0, made.stderr
    network_id = made.stdout.strip()
    listed = berthd.berth("network", "ls")
    assert listed.stdout.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert f"{network_id[:12]}   cli" in listed.stdout
    quiet = berthd.berth("network", "ls", "-q", "-f", "label=a=b").stdout.split()
    assert quiet == [network_id[:12]]
    (doc,) = json.loads(berthd.berth("network", "inspect", "cli").stdout)
    assert (doc["Id"], doc["Internal"], doc["Labels"]) == (network_id, True, {"a": "b"})
    taken = berthd.berth("network", "create", "cli")
    assert taken.returncode == 1 and "network with name cli already exists" in taken.stderr
    run = berthd.berth("run", "-d", "--name", "clibox", "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr
    joined = berthd.berth("network", "connect", "--alias", "x1", "--ip", "10.220.0.9", "cli",
                          "clibox")  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    (box,) = json.loads(berthd.docker("inspect", "clibox").stdout)
    assert box["NetworkSettings"]["Networks"]["cli"]["IPAddress"] == "10.220.0.9"
    busy = berthd.berth("network", "rm", "cli")
    assert busy.returncode == 1 and "has active endpoints" in busy.stderr
    left = berthd.berth("network", "disconnect", "cli", "clibox")
    assert left.returncode == 0, left.stderr
    assert berthd.berth("rm", "-f", "clibox").returncode == 0
    pruned = berthd.berth("network", "prune", "-f")
    assert pruned.stdout.split() == ["Deleted", "Networks:", "cli"]
    missing = berthd.berth("network", "inspect", "cli")
    assert missing.returncode == 1 and "No such network: cli" in missing.stderr
