"""Volumes of the `local` driver on disk: `<root>/volumes/<name>/_data`, as moby's
volume/local keeps them, and the mounts of volumes created with `type`/`device`/`o`.

`VolumeDriver` is what the engine relies on; `LocalVolumes` is the real one, and
tests/fakes/volumes.py keeps the same promises without root (the contract suite,
tests/contracts/test_volumes_contract.py, holds both to them). Which volumes exist, who
uses them and who mounts them is the log's (berth.domain.volume): the driver only does
what it is told, and every call is idempotent, so repeating one after a crash is harmless.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import trio

from berth.domain.errors import InvalidParameter
from berth.domain.volume import DATA_DIR, needs_mount, validate_volume_name, volumes_dir

from .disk_usage import tree_size
from .private_files import private_dir
from .snapshots.overlay import MountError, mounted_paths, unmount

DATA_MODE = 0o755  # as dockerd: the container's processes, of any uid, reach their data


class VolumeDriver(Protocol):
    """Volume names are checked (`InvalidParameter` otherwise); paths are the host's."""

    def data_path(self, name: str) -> Path:
        """Where the volume's data is (its `Mountpoint`), whether or not it exists."""
        ...

    def create(self, name: str) -> Path:
        """The volume's directories (its parent 0700, `_data` 0755); answers the data path.
        A volume that exists keeps its data."""
        ...

    async def mount(self, name: str, options: Mapping[str, str] | None) -> None:
        """With a `type` or `device`: mount `device` of `type` with `o` on the data path,
        unless it is mounted already; without: nothing. A mount that fails is a
        `MountError` naming the volume, and leaves nothing mounted."""
        ...

    async def unmount(self, name: str) -> None:
        """Unmount what `mount` mounted; nothing mounted is fine. The data path stays."""
        ...

    def is_mounted(self, name: str) -> bool: ...

    def size(self, name: str) -> int:
        """Bytes of the files under the data path (what a prune reclaims); 0 if absent."""
        ...

    async def remove(self, name: str) -> None:
        """Unmount, then delete the volume's directory; an absent one is fine. Never
        deletes through a mount (what a bind shows of the host stays)."""
        ...

    def names(self) -> list[str]:
        """Every volume with a directory here, sorted."""
        ...


class VolumeDirectories:
    """Where volumes are, the same for every driver of this Protocol: `<root>/volumes`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(volumes_dir(str(root)))

    def _dir(self, name: str) -> Path:
        return self.root / validate_volume_name(name)

    def data_path(self, name: str) -> Path:
        return self._dir(name) / DATA_DIR

    def create(self, name: str) -> Path:
        private_dir(self._dir(name))
        data = self.data_path(name)
        with contextlib.suppress(FileExistsError):
            os.mkdir(data, DATA_MODE)
        return data

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            with contextlib.suppress(InvalidParameter):
                if entry.is_dir():
                    found.append(validate_volume_name(entry.name))
        return sorted(found)


class LocalVolumes(VolumeDirectories):
    """The real `VolumeDriver`: directories under `<root>/volumes`, mount(8) for options."""

    async def mount(self, name: str, options: Mapping[str, str] | None) -> None:
        if options is None or not needs_mount(options) or self.is_mounted(name):
            return
        data = self.create(name)
        command = ["mount", "-t", options.get("type") or "none"]
        if options.get("o"):
            command += ["-o", options["o"]]
        command += ["--source", options.get("device") or "none", "--target", str(data)]
        result = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
        if result.returncode != 0:
            reason = result.stderr.decode(errors="replace").strip()
            raise MountError(f"error while mounting volume '{data}': {reason}")

    async def unmount(self, name: str) -> None:
        if self.is_mounted(name):
            await trio.to_thread.run_sync(unmount, self.data_path(name))

    def is_mounted(self, name: str) -> bool:
        return str(self.data_path(name)) in mounted_paths()

    def size(self, name: str) -> int:
        return tree_size(self.data_path(name))

    async def remove(self, name: str) -> None:
        directory = self._dir(name)
        await self.unmount(name)
        below = [p for p in mounted_paths() if p == str(directory) or p.startswith(f"{directory}/")]
        if below:
            raise MountError(f"volume {name} is still mounted at {below[0]}; not removed")
        await trio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))
