"""The host's device nodes a privileged container gets (containerd's oci.HostDevices)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from berth.adapters.host_devices import host_devices


def test_device_nodes_are_found_below_dev_and_the_skipped_places_are_not(tmp_path: Path) -> None:
    os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (tmp_path / "disks").mkdir()
    os.mknod(tmp_path / "disks" / "loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
    os.chown(tmp_path / "disks" / "loop9", 0, 6)
    for node, mode in (("null", 0o666), ("disks/loop9", 0o660)):
        os.chmod(tmp_path / node, mode)  # mknod's mode is under the umask
    for skipped in ("pts", "shm", "mqueue"):
        (tmp_path / skipped).mkdir()
        os.mknod(tmp_path / skipped / "x", stat.S_IFCHR | 0o600, os.makedev(5, 2))
    os.mknod(tmp_path / "console", stat.S_IFCHR | 0o600, os.makedev(5, 1))
    (tmp_path / "stdin").symlink_to("/proc/self/fd/0")
    (tmp_path / "plain").write_text("not a device")
    assert host_devices(tmp_path) == [
        {"path": str(tmp_path / "disks" / "loop9"), "type": "b", "major": 7, "minor": 9,
         "fileMode": 0o660, "uid": 0, "gid": 6},
        {"path": str(tmp_path / "null"), "type": "c", "major": 1, "minor": 3,
         "fileMode": 0o666, "uid": 0, "gid": 0},
    ]  # fmt: skip


def test_the_hosts_own_dev_has_its_null_device() -> None:
    found = {d["path"]: d for d in host_devices()}
    assert (found["/dev/null"]["type"], found["/dev/null"]["major"]) == ("c", 1)
    assert "/dev/console" not in found and not any("/dev/pts/" in p for p in found)
