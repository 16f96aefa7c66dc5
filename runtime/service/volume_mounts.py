"""The data of local volumes, as mount points use it: `<root>/volumes/<name>/_data`.

What a volume is and where its data lives is the driver's (adapters/volumes.py) and the
log's (domain/volume.py); this fills a new one from the image. Blocking: call it from a
worker thread.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from berth.adapters.mountpoints import MountPoints
from berth.adapters.volumes import VolumeDriver

COPYING = "copying"  # beside `_data` while the image's content is copied into it


class VolumeMounts:
    def __init__(self, driver: VolumeDriver, hosts: MountPoints) -> None:
        self.driver = driver
        self.hosts = hosts

    def source_for(self, name: str) -> Path:
        """The volume's data directory, made on first use (by the driver)."""
        return self.driver.create(name)

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
        marker.touch(mode=0o600)
        self.hosts.copy_directory(rootfs, destination, data)
        marker.unlink()
