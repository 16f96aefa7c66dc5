"""Finding the host's cgroup hierarchies, and paths that stay inside them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.adapters import cgroups
from berth.domain.errors import InvalidParameter

from .proc_cgroups import process_cgroups

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/pids rw,nosuid,relatime - cgroup cgroup rw,pids
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 23 0:32 /berth/x /mnt/bound rw,relatime - cgroup cgroup rw,memory
51 23 0:32 / /mnt/memory\\040again rw,relatime - cgroup cgroup rw,memory
60 23 8:1 / / rw,relatime - ext4 /dev/vda rw
"""


def test_hybrid_layout_every_hierarchy_once_but_cpuset(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(HYBRID)
    found = {(str(h.mount), h.version, h.controllers) for h in cgroups.hierarchies(info)}
    assert found == {
        ("/sys/fs/cgroup/cpu,cpuacct", 1, frozenset({"cpu", "cpuacct"})),
        ("/sys/fs/cgroup/pids", 1, frozenset({"pids"})),
        ("/sys/fs/cgroup/memory", 1, frozenset({"memory"})),
        ("/sys/fs/cgroup/systemd", 1, frozenset({"name=systemd"})),
        ("/sys/fs/cgroup/unified", 2, frozenset()),
    }


def test_pure_v2_layout(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
    assert cgroups.hierarchies(info) == [cgroups.Hierarchy(Path("/sys/fs/cgroup"), 2, frozenset())]


def test_this_host_has_a_hierarchy_and_this_process_is_in_each() -> None:
    found = cgroups.hierarchies()
    assert found
    mine = process_cgroups(os.getpid())
    assert ("" in mine) == any(h.version == 2 for h in found)


def test_the_hosts_hierarchies_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    read = cgroups.hierarchies

    def counted(
        mountinfo: Path = cgroups.MOUNTINFO, *, every: bool = False
    ) -> list[cgroups.Hierarchy]:
        reads.append(mountinfo)
        return read(mountinfo, every=every)

    monkeypatch.setattr(cgroups, "hierarchies", counted)
    monkeypatch.setattr(cgroups, "_host_hierarchies", [])
    assert cgroups.host_hierarchies() == read()
    assert cgroups.host_hierarchies() == read()
    assert not cgroups.frozen(os.getpid())
    assert reads == [cgroups.MOUNTINFO]


@pytest.mark.parametrize("bad", ["", "/", "..", "a/../b", "/a/./b"])
def test_paths_that_could_leave_the_hierarchy_are_refused(bad: str) -> None:
    with pytest.raises(InvalidParameter):
        cgroups.check_relative(bad)


def test_relative_paths_are_normalised() -> None:
    assert cgroups.check_relative("/berth//conmon-x/") == "berth/conmon-x"


def test_remove_of_missing_directories_is_fine(tmp_path: Path) -> None:
    assert cgroups.remove([tmp_path / "nope"]) == []
    assert cgroups.members(tmp_path / "nope") == []
