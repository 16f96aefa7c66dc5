"""The data of local volumes, as mount points use it: `<root>/volumes/<name>/_data`.

One small class, so that what a volume is (today a directory; later an aggregate with
its own events) can change behind it without touching the start path. Blocking: call
it from a worker thread.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from berth.adapters.mountpoints import MountPoints, MountTargetError
from berth.domain.errors import InvalidParameter
from berth.domain.mounts import validate_volume_name

VOLUMES_DIR = "volumes"
COPYING = "copying"  # beside `_data` while the image's content is copied into it


def volumes_dir(root: Path) -> Path:
    return root / VOLUMES_DIR


class VolumeMounts:
    def __init__(self, root: Path, hosts: MountPoints) -> None:
        self.dir = volumes_dir(root)
        self.hosts = hosts

    def data_dir(self, name: str) -> Path:
        validate_volume_name(name)
        return self.dir / name / "_data"

    def source_for(self, name: str) -> Path:
        """The volume's data directory, made on first use (the volumes directory 0700,
        as dockerd keeps it, `_data` 0755)."""
        data = self.data_dir(name)
        if data.is_dir():
            return data
        self.dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        data.parent.mkdir(mode=0o700, exist_ok=True)
        data.mkdir(mode=0o755, exist_ok=True)
        return data

    def copy_up(self, rootfs: Path, destination: str, data: Path) -> None:
        """Fill an empty volume with what the image has at `destination` (files, modes,
        owners, links, xattrs) and give `_data` the mode and owner of the image's
        directory, as dockerd's copyExistingContents; a volume with content is kept.

        A copy cut short by a crash is marked, so the next one starts over."""
        marker = data.parent / COPYING
        if marker.exists():
            shutil.rmtree(data)
            data.mkdir(mode=0o755)
        elif any(data.iterdir()):
            return
        found = self.hosts.find_target(rootfs, destination)
        if found is None:
            return
        source = Path(os.path.realpath(rootfs)) / found.lstrip("/")
        if not source.is_dir() or source.is_symlink():
            return
        marker.touch(mode=0o600)
        result = subprocess.run(
            ["cp", "-a", "--no-dereference", f"{source}/.", f"{data}/"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise MountTargetError(
                f"cannot copy the image's {destination} into its volume: {result.stderr.strip()}"
            )
        marker.unlink()

    def remove(self, name: str) -> None:
        """The volume's directory is gone; an absent one is fine."""
        try:
            directory = self.data_dir(name).parent
        except InvalidParameter:
            return
        shutil.rmtree(directory, ignore_errors=True)
