"""The `VolumeDriver` contract (adapters/volumes.py), for the fake and for the real driver
(directories under the root, mount(8) for volumes with options)."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth.adapters.snapshots.overlay import mounted_paths
from berth.adapters.volumes import LocalVolumes, VolumeDriver
from berth.domain.errors import BerthError, InvalidParameter

from ..fakes.volumes import FakeVolumes
from .conftest import IMPLEMENTATIONS, needs

TMPFS = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0750"}


@pytest.fixture(params=IMPLEMENTATIONS)
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VolumeDriver]:
    if request.param == "real":
        needs(root=True, commands=("mount",))
    volumes: VolumeDriver = (
        FakeVolumes(tmp_path) if request.param == "fake" else LocalVolumes(tmp_path)
    )
    yield volumes
    for name in volumes.names():
        await volumes.remove(name)
    assert not [p for p in mounted_paths() if p.startswith(str(tmp_path))]


async def test_a_volume_is_a_data_dir_under_a_private_one(
    driver: VolumeDriver, tmp_path: Path
) -> None:
    data = driver.create("data")
    assert data == driver.data_path("data") == tmp_path / "volumes" / "data" / "_data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    assert stat.S_IMODE(data.parent.stat().st_mode) == 0o700
    (data / "kept").write_text("x")
    assert driver.create("data") == data and (data / "kept").read_text() == "x"
    assert driver.size("data") == 1
    assert driver.names() == ["data"]


async def test_a_volume_without_options_is_never_mounted(driver: VolumeDriver) -> None:
    driver.create("plain")
    for options in (None, {}):
        await driver.mount("plain", options)
        assert not driver.is_mounted("plain")
    await driver.unmount("plain")


async def test_a_tmpfs_volume_is_empty_each_mount_and_its_files_vanish(
    driver: VolumeDriver,
) -> None:
    data = driver.create("scratch")
    (data / "below").write_text("hidden while mounted")
    for _ in range(2):
        await driver.mount("scratch", TMPFS)
        await driver.mount("scratch", TMPFS)  # mounted already: once
        assert driver.is_mounted("scratch")
        assert list(data.iterdir()) == []
        (data / "written").write_text("gone at unmount")
        await driver.unmount("scratch")
        await driver.unmount("scratch")
        assert not driver.is_mounted("scratch")
        assert [p.name for p in data.iterdir()] == ["below"]


async def test_a_bind_volume_shows_the_device(driver: VolumeDriver, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    await driver.mount("bound", {"type": "none", "device": str(source), "o": "bind"})
    (driver.data_path("bound") / "through").write_text("on the host")
    await driver.remove("bound")  # unmounted first: the host's files stay
    assert (source / "through").read_text() == "on the host"
    assert driver.names() == []


async def test_remove_deletes_everything_once(driver: VolumeDriver) -> None:
    (driver.create("gone") / "f").write_text("x")
    await driver.mount("gone", TMPFS)
    for _ in range(2):
        await driver.remove("gone")
    assert driver.names() == [] and not driver.data_path("gone").exists()
    assert driver.size("gone") == 0


async def test_names_are_checked(driver: VolumeDriver) -> None:
    for bad in ("../etc", "a", "x/y"):
        with pytest.raises(InvalidParameter):
            driver.create(bad)


async def test_a_mount_that_fails_is_an_error_and_leaves_nothing_mounted(
    driver: VolumeDriver, tmp_path: Path
) -> None:
    if isinstance(driver, FakeVolumes):
        pytest.skip("the fake mounts nothing that can fail")
    with pytest.raises(BerthError, match="error while mounting volume"):
        await driver.mount("broken", {"type": "nosuchfs", "device": "x"})
    assert not driver.is_mounted("broken")
