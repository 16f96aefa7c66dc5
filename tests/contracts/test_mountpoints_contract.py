"""The `MountPoints` contract (adapters/mountpoints.py), for the fake and the real adapter:
targets resolved inside a root filesystem, links never leading out of it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from berth.adapters.mountpoints import (
    HostMountPoints,
    MountPoints,
    MountTargetError,
    source_mount,
)

from ..fakes.mountpoints import FakeMountPoints
from .conftest import IMPLEMENTATIONS, needs


@pytest.fixture(params=IMPLEMENTATIONS)
def hosts(request: pytest.FixtureRequest) -> MountPoints:
    return FakeMountPoints() if request.param == "fake" else HostMountPoints()


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "data").symlink_to("/etc")
    (root / "up").symlink_to("../../../../etc")
    (root / "rel").symlink_to("etc")
    (root / "dangling").symlink_to("/nowhere/at/all")
    return root


def test_missing_directories_are_made_inside_the_root(hosts: MountPoints, rootfs: Path) -> None:
    assert hosts.prepare_target(rootfs, "/srv/www/", True) == "/srv/www"
    assert (rootfs / "srv" / "www").is_dir()
    assert (rootfs / "srv" / "www").stat().st_mode & 0o777 == 0o755
    assert hosts.prepare_target(rootfs, "/srv/www", True) == "/srv/www"  # idempotent


def test_a_file_target_is_an_empty_file(hosts: MountPoints, rootfs: Path) -> None:
    assert hosts.prepare_target(rootfs, "/etc/app.conf", False) == "/etc/app.conf"
    assert (rootfs / "etc" / "app.conf").read_bytes() == b""
    assert (rootfs / "etc" / "app.conf").stat().st_mode & 0o777 == 0o755  # moby's mode


@pytest.mark.parametrize(
    ("destination", "resolved"),
    [("/data", "/etc"), ("/data/new", "/etc/new"), ("/up/x", "/etc/x"), ("/rel/y", "/etc/y")],
)
def test_links_resolve_with_the_root_as_slash(
    hosts: MountPoints, rootfs: Path, destination: str, resolved: str
) -> None:
    host_etc = sorted(os.listdir("/etc"))
    assert hosts.prepare_target(rootfs, destination, True) == resolved
    assert (rootfs / resolved.lstrip("/")).is_dir()
    assert sorted(os.listdir("/etc")) == host_etc


def test_a_link_to_nothing_is_refused(hosts: MountPoints, rootfs: Path) -> None:
    with pytest.raises(MountTargetError):
        hosts.prepare_target(rootfs, "/dangling", True)
    assert not Path("/nowhere").exists()
    assert not (rootfs / "nowhere").exists()


def test_dot_dot_is_refused(hosts: MountPoints, rootfs: Path) -> None:
    with pytest.raises(MountTargetError):
        hosts.prepare_target(rootfs, "/a/../../b", True)


def test_find_creates_nothing(hosts: MountPoints, rootfs: Path) -> None:
    assert hosts.find_target(rootfs, "/data") == "/etc"
    assert hosts.find_target(rootfs, "/absent/x") is None
    assert not (rootfs / "absent").exists()


def test_sources(hosts: MountPoints, tmp_path: Path) -> None:
    missing = tmp_path / "a" / "b"
    assert not hosts.source_exists(str(missing))
    with pytest.raises(MountTargetError) as refused:
        hosts.ensure_source(str(missing), create=False)
    assert refused.value.message == (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    )
    assert hosts.ensure_source(str(missing), create=True) is True
    assert missing.stat().st_mode & 0o777 == 0o755
    file = tmp_path / "f"
    file.write_text("x")
    assert hosts.source_exists(str(file))
    assert hosts.ensure_source(str(file), create=True) is False


def test_a_shared_bind_needs_a_shared_source(hosts: MountPoints, tmp_path: Path) -> None:
    needs(root=True, commands=("mount", "umount"))
    private = tmp_path / "private"
    private.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(private)], check=True)
    try:
        subprocess.run(["mount", "--make-private", str(private)], check=True)
        with pytest.raises(MountTargetError) as refused:
            hosts.check_propagation(str(private), "rshared")
        assert refused.value.message == (
            f"path {private} is mounted on {private} but it is not a shared mount"
        )
        with pytest.raises(MountTargetError):
            hosts.check_propagation(str(private), "slave")
        hosts.check_propagation(str(private), "rprivate")
        subprocess.run(["mount", "--make-shared", str(private)], check=True)
        hosts.check_propagation(str(private), "rshared")
        hosts.check_propagation(str(private), "rslave")
    finally:
        subprocess.run(["umount", str(private)], check=True)


def test_the_mount_of_a_path_is_the_longest_above_it() -> None:
    info = (
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "2 1 0:5 / /srv rw shared:3 - tmpfs tmpfs rw\n"
        "3 1 0:6 / /srv\\040data rw master:4 - tmpfs tmpfs rw\n"
    )
    assert source_mount("/srv/x", info) == ("/srv", ["shared:3"])
    assert source_mount("/srv data/y", info) == ("/srv data", ["master:4"])
    assert source_mount("/srvx", info) == ("/", [])


def test_copy_directory_through_the_images_links(
    hosts: MountPoints, rootfs: Path, tmp_path: Path
) -> None:
    (rootfs / "etc" / "passwd").chmod(0o640)
    os.chown(rootfs / "etc" / "passwd", 3, 4)
    (rootfs / "etc" / "self").symlink_to("/etc")
    target = tmp_path / "volume"
    target.mkdir()
    assert hosts.copy_directory(rootfs, "/data", target) is True  # /data -> /etc, in the root
    copied = os.stat(target / "passwd")
    assert (copied.st_mode & 0o777, copied.st_uid, copied.st_gid) == (0o640, 3, 4)
    assert os.readlink(target / "self") == "/etc"
    assert (target / "passwd").read_text() == (rootfs / "etc" / "passwd").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert hosts.copy_directory(rootfs, "/absent", empty) is False
    assert hosts.copy_directory(rootfs, "/etc/passwd", empty) is False  # not a directory
    assert list(empty.iterdir()) == []
