"""`berth volume ...` against a berthd prints what `docker volume ...` prints."""

from __future__ import annotations

import json

from .berth_cli import berth
from .conftest import Berthd


def test_berth_volume_commands_print_what_docker_prints(berthd: Berthd) -> None:
    made = berth(berthd, "volume", "create", "--label", "a=b", "-o", "type=tmpfs",
                 "-o", "device=tmpfs", "kept")  # fmt: skip
    assert (made.returncode, made.stdout) == (0, "kept\n"), made.stderr
    assert berth(berthd, "volume", "create", "--name", "gone").stdout == "gone\n"
    anonymous = berth(berthd, "volume", "create").stdout.strip()
    assert len(anonymous) == 64
    for command in (["volume", "ls"], ["volume", "ls", "-q"], ["volume", "ls", "-f", "name=go"]):
        assert berth(berthd, *command).stdout == berthd.docker(*command).stdout, command
    inspected = berth(berthd, "volume", "inspect", "kept")
    assert json.loads(inspected.stdout) == json.loads(
        berthd.docker("volume", "inspect", "kept").stdout
    )
    assert json.loads(inspected.stdout)[0]["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    missing = berth(berthd, "volume", "inspect", "nope")
    assert (missing.returncode, missing.stderr) == (1, "Error: No such volume: nope\n")
    assert json.loads(missing.stdout) == []
    pruned = berth(berthd, "volume", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    lines = pruned.stdout.splitlines()
    assert lines[0] == "Deleted Volumes:" and sorted(lines[1:3]) == sorted([anonymous, "gone"])
    assert lines[3:] == ["", "Total reclaimed space: 0B"]
    refused = berth(berthd, "volume", "rm", "nope", "kept")
    assert refused.returncode == 1
    assert refused.stdout == "kept\n"
    assert refused.stderr == "Error response from daemon: get nope: no such volume\n"
    assert berth(berthd, "volume", "ls", "-q").stdout == ""
    assert berth(berthd, "volume", "ls", "-f", "bogus=1").returncode == 1
