"""The host's device nodes a privileged container gets (containerd's oci.HostDevices)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from berth.adapters.host_devices import DeviceError, host_devices, mapped_device


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


def test_a_device_mapping_is_found_at_its_container_path(tmp_path: Path) -> None:
    os.mknod(tmp_path / "tun", stat.S_IFCHR | 0o600, os.makedev(10, 200))
    (tmp_path / "link").symlink_to(tmp_path / "tun")
    (tmp_path / "group").mkdir()
    os.mknod(tmp_path / "group" / "a", stat.S_IFCHR | 0o600, os.makedev(1, 7))
    os.chmod(tmp_path / "group" / "a", 0o640)
    [one] = mapped_device(str(tmp_path / "link"), "/dev/net/tun", "rw")
    assert one == {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200,
                   "fileMode": 0o600, "uid": 0, "gid": 0, "access": "rw"}  # fmt: skip
    [same_path] = mapped_device(str(tmp_path / "tun"), "", "rwm")
    assert same_path["path"] == str(tmp_path / "tun")
    [below] = mapped_device(str(tmp_path / "group"), "/dev/g", "r")
    assert (below["path"], below["minor"], below["fileMode"]) == ("/dev/g/a", 7, 0o640)


def test_a_mapping_of_nothing_or_of_a_file_is_dockerds_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    for name, why in (("missing", "no such file or directory"), ("plain", "not a device node")):
        with pytest.raises(DeviceError) as refused:
            mapped_device(str(tmp_path / name), "/dev/x", "rwm")
        assert refused.value.message == (
            "error gathering device information while adding custom device "
            f'"{tmp_path / name}": {why}'
        )
