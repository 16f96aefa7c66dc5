"""VolumeMounts: where a volume's data is, and the copy-up of the image's content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.domain.errors import InvalidParameter
from berth.runtime.service.volume_mounts import COPYING, VolumeMounts

from ..fakes.mountpoints import FakeMountPoints


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "srv" / "seed").mkdir(parents=True)
    (root / "srv" / "seed").chmod(0o750)
    (root / "srv" / "seed" / "a").write_text("image\n")
    os.chown(root / "srv" / "seed" / "a", 5, 6)
    (root / "srv" / "seed" / "link").symlink_to("/etc/passwd")
    (root / "data").symlink_to("/srv/seed")
    return root


def test_directories_and_modes(tmp_path: Path) -> None:
    volumes = VolumeMounts(tmp_path, FakeMountPoints())
    data = volumes.source_for("v1")
    assert data == tmp_path / "volumes" / "v1" / "_data"
    assert (tmp_path / "volumes").stat().st_mode & 0o777 == 0o700
    assert data.stat().st_mode & 0o777 == 0o755
    with pytest.raises(InvalidParameter):
        volumes.source_for("../escape")
    volumes.remove("v1")
    assert not (tmp_path / "volumes" / "v1").exists()
    volumes.remove("v1")  # idempotent


def test_copy_up_fills_an_empty_volume_once(tmp_path: Path, rootfs: Path) -> None:
    volumes = VolumeMounts(tmp_path, FakeMountPoints())
    data = volumes.source_for("v1")
    volumes.copy_up(rootfs, "/data", data)  # through the image's own link, inside the root
    assert (data / "a").read_text() == "image\n"
    assert (os.stat(data / "a").st_uid, os.stat(data / "a").st_gid) == (5, 6)
    assert os.readlink(data / "link") == "/etc/passwd"  # copied as a link, not followed
    assert data.stat().st_mode & 0o777 == 0o750
    (data / "a").write_text("changed\n")
    volumes.copy_up(rootfs, "/data", data)
    assert (data / "a").read_text() == "changed\n"  # a volume with content is kept
    missing = volumes.source_for("v2")
    volumes.copy_up(rootfs, "/absent", missing)
    assert list(missing.iterdir()) == []


def test_a_copy_cut_short_starts_over(tmp_path: Path, rootfs: Path) -> None:
    volumes = VolumeMounts(tmp_path, FakeMountPoints())
    data = volumes.source_for("v1")
    (data / "partial").write_text("half")
    (data.parent / COPYING).touch()
    volumes.copy_up(rootfs, "/srv/seed", data)
    assert sorted(p.name for p in data.iterdir()) == ["a", "link"]
    assert not (data.parent / COPYING).exists()
