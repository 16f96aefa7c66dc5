"""A container's mounts in the world: planned at create, set up at prepare and start,
removed with it.

The plan (domain/mounts.py) is decided once, at create, and recorded in `Created`; the
prepare makes its volumes' directories and copies the image's content into new ones;
the start checks the bind sources, resolves every target inside the root filesystem
and answers the OCI mounts; a removal with `v` removes the anonymous volumes nobody
else uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from berth.adapters.mountpoints import MountPoints, MountTargetError, missing_bind_source
from berth.domain.config import Config, HostConfig
from berth.domain.container import Container
from berth.domain.errors import BerthError, InvalidParameter, NotFound
from berth.domain.mounts import MountPoint, mount_points_of, parse_volumes_from, plan_mounts
from berth.domain.spec.mounts import container_mounts
from berth.domain.volume import volumes_dir

from .volume_mounts import VolumeMounts

DOCKERENV = "/.dockerenv"


def mount_points(container: Container) -> tuple[MountPoint, ...]:
    """The container's recorded mount points (none for one created before them)."""
    return mount_points_of(getattr(container, "mounts", None))


def plan_for_create(
    config: Config,
    host: HostConfig,
    *,
    root: Path,
    hosts: MountPoints,
    container_of: Callable[[str], Container],
    new_volume_name: Callable[[], str],
) -> list[dict[str, Any]]:
    """The mount points of a container being created, as records for `Created`; bad
    input is dockerd's 400 (a missing `--mount` bind source, an unknown container of
    `--volumes-from`)."""
    others: dict[str, Sequence[MountPoint]] = {}
    for spec in host.volumes_from or ():
        ref, _ = parse_volumes_from(spec)
        try:
            others[ref] = mount_points(container_of(ref))
        except NotFound as error:
            raise InvalidParameter(error.message) from None
    for mount in host.mounts:
        options = mount.bind_options
        create = bool(options and options.create_mountpoint)
        if mount.type == "bind" and not create and not hosts.source_exists(mount.source):
            raise missing_bind_source(mount.source)
    points = plan_mounts(
        config,
        host,
        volumes_from=others,
        new_volume_name=new_volume_name,
        volumes_dir=volumes_dir(str(root)),
        daemon_root=str(root),
    )
    container_mounts(points, host.tmpfs)  # its tmpfs options are checked now, not at start
    return [point.to_record() for point in points]


class ContainerMounts:
    """What prepare, start and removal do about a container's mounts. Blocking: call
    from a worker thread."""

    def __init__(self, root: Path, volumes: VolumeMounts, hosts: MountPoints) -> None:
        self.root = str(root)
        self.volumes = volumes
        self.hosts = hosts

    def populate(self, container: Container, rootfs: Path) -> None:
        """dockerd's `/.dockerenv` marker (scripts test for it to know they run in a
        container), and each volume's directory, filled from the image when new (dockerd
        does this at create, `populateVolumes`)."""
        with contextlib.suppress(BerthError):  # an image's own odd /.dockerenv stays
            self.hosts.prepare_target(rootfs, DOCKERENV, directory=False)
        for point in mount_points(container):
            if point.type != "volume":
                continue
            data = self.volumes.source_for(point.name)
            if point.copy_data:
                self.volumes.copy_up(rootfs, point.destination, data)

    def oci_mounts(
        self, container: Container, network_mounts: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The container's own OCI mounts, sources ready and targets resolved in its root."""
        host = HostConfig.from_docker(container.host_config)
        points = mount_points(container)
        directories: dict[str, bool] = {}
        resolved: list[MountPoint] = []
        for point in points:
            if point.type == "bind":
                directories[point.source] = self.hosts.ensure_source(
                    point.source, point.create_source
                )
                if not _related(point.source, self.root):
                    self.hosts.check_propagation(point.source, point.propagation)
            elif point.type == "volume" and point.subpath:
                resolved.append(self._volume_subpath(point))
                source = resolved[-1].source
                directories[source] = self.hosts.ensure_source(source, False)
                continue
            elif point.type == "volume":
                directories[str(self.volumes.source_for(point.name))] = True
            resolved.append(point)
        mounts = container_mounts(resolved, host.tmpfs, network_mounts, host.readonly_rootfs)
        rootfs = Path(container.rootfs)
        for mount in mounts:
            directory = mount["type"] == "tmpfs" or directories.get(mount["source"], False)
            mount["destination"] = self.hosts.prepare_target(
                rootfs, mount["destination"], directory
            )
        return mounts


    def _volume_subpath(self, point: MountPoint) -> MountPoint:
        """The point with its source the volume's subpath, resolved inside the volume as
        if it were `/`: a link in the volume cannot lead the mount out of it."""
        data = self.volumes.source_for(point.name)
        found = self.hosts.find_target(data, "/" + point.subpath)
        if found is None:
            raise MountTargetError(
                f"cannot access path {data / point.subpath}: no such file or directory"
            )
        return replace(point, source=str(data) + found.rstrip("/"))


def _related(source: str, root: str) -> bool:
    """A bind of the engine's root or of a path above or below it: rslave by default, and
    as dockerd, not refused when its mount is private (moby's fallback)."""
    return source.startswith(root) or root.startswith(source)
