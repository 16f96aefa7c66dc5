"""A `VolumeDriver` without root: the same directories, mounts played by moving the data
directory aside.

A tmpfs "mount" puts an empty directory on the data path and sets the volume's own files
aside until the unmount, which discards what was written meanwhile (as a tmpfs would) and
puts them back; a bind (`o=bind`) is a symlink to the device. So what the real driver's
mounts show through the data path, the fake shows too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

from berth.adapters.volumes import DATA_MODE, VolumeDirectories
from berth.domain.volume import needs_mount

ASIDE = "_aside"


class FakeVolumes(VolumeDirectories):
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
