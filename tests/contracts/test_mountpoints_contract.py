"""The `MountPoints` contract (adapters/mountpoints.py), for the fake and the real adapter:
targets resolved inside a root filesystem, links never leading out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.adapters.mountpoints import HostMountPoints, MountPoints, MountTargetError

from ..fakes.mountpoints import FakeMountPoints
from .conftest import IMPLEMENTATIONS


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
