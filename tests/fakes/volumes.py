"""A `VolumeDriver` without root: the same directories, mounts played by moving the data
directory aside.

A tmpfs "mount" puts an empty directory on the data path and sets the volume's own files
aside until the unmount, which discards what was written meanwhile (as a tmpfs would) and
puts them back; a bind (`o=bind`) is a symlink to the device. So what the real driver's
mounts show through the data path, the fake shows too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from berth.adapters.volumes import DATA_MODE
from berth.domain.errors import InvalidParameter
from berth.domain.volume import DATA_DIR, needs_mount, validate_volume_name, volumes_dir

ASIDE = "_aside"


class FakeVolumes:
    def __init__(self, root: Path) -> None:
        self.root = Path(volumes_dir(str(root)))

    def _dir(self, name: str) -> Path:
        return self.root / validate_volume_name(name)

    def data_path(self, name: str) -> Path:
        return self._dir(name) / DATA_DIR

    def create(self, name: str) -> Path:
        self._dir(name).mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.data_path(name), DATA_MODE)
        return self.data_path(name)

    async def mount(self, name: str, options: Mapping[str, str] | None) -> None:
        if options is None or not needs_mount(options) or self.is_mounted(name):
            return
        data = self.create(name)
        data.rename(self._dir(name) / ASIDE)
        if "bind" in (options.get("o") or "").split(","):
            data.symlink_to(options["device"])
        else:
            os.mkdir(data, DATA_MODE)

    async def unmount(self, name: str) -> None:
        if not self.is_mounted(name):
            return
        data = self.data_path(name)
        if data.is_symlink():
            data.unlink()
        else:
            shutil.rmtree(data)
        (self._dir(name) / ASIDE).rename(data)

    def is_mounted(self, name: str) -> bool:
        return (self._dir(name) / ASIDE).exists()

    def size(self, name: str) -> int:
        data = self.data_path(name)
        if data.is_symlink() or not data.is_dir():
            return 0
        return sum(p.lstat().st_size for p in data.rglob("*") if p.is_file() and not p.is_symlink())

    async def remove(self, name: str) -> None:
        await self.unmount(name)
        shutil.rmtree(self._dir(name), ignore_errors=True)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            with contextlib.suppress(InvalidParameter):
                if entry.is_dir():
                    found.append(validate_volume_name(entry.name))
        return sorted(found)
