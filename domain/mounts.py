"""A container's mount points, decided once at create, as dockerd's registerMountPoints.

From the merged Config (its `Volumes`: the image's VOLUMEs and the user's) and the
HostConfig (`VolumesFrom`, `Binds`, `Mounts`, `Tmpfs`) comes one list of `MountPoint`s:
what `inspect` shows under `Mounts` and what the start mounts. Precedence is dockerd's:
the other containers' mount points first, then `Binds`, then `Mounts`, each replacing an
earlier one at the same destination; a `Binds`/`Mounts` destination given twice (or also
a `Tmpfs` one) is "Duplicate mount point"; an image VOLUME nothing else covers becomes an
anonymous volume. Names of new anonymous volumes come from the caller (the engine draws
them), as do the places of volumes' data, so this stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .config import Config, HostConfig, Mount
from .config_json import BOOL, FILE_MODE, INT64, RAW, STR, STRMAP, DockerStruct, Opt, Struct, jf
from .errors import InvalidParameter, NotFound
from .settings_rules import (
    PROPAGATION_MODES,
    go_clean,
    go_quote,
    mount_error,
    parse_bind,
    valid_mount_mode,
)
from .volume import LOCAL_DRIVER, data_path, volume_name_problem


@dataclass(frozen=True)
class MountDriver(DockerStruct):
    GO_STRUCT = "Driver"
    GO_TYPE = "mount.Driver"

    name: str = field(default="", metadata=jf("Name", STR, omitempty=True))
    options: Mapping[str, str] | None = field(default=None, metadata=jf("Options", STRMAP))


@dataclass(frozen=True)
class VolumeOptions(DockerStruct):
    """`mount.VolumeOptions`, read from `Mount.VolumeOptions` as dockerd decodes it."""

    GO_STRUCT = "VolumeOptions"
    GO_TYPE = "mount.VolumeOptions"

    no_copy: bool = field(default=False, metadata=jf("NoCopy", BOOL))
    labels: Mapping[str, str] | None = field(default=None, metadata=jf("Labels", STRMAP))
    subpath: str = field(default="", metadata=jf("Subpath", STR))
    driver_config: MountDriver | None = field(
        default=None, metadata=jf("DriverConfig", Opt(Struct(MountDriver)))
    )


@dataclass(frozen=True)
class TmpfsOptions(DockerStruct):
    GO_STRUCT = "TmpfsOptions"
    GO_TYPE = "mount.TmpfsOptions"

    size_bytes: int = field(default=0, metadata=jf("SizeBytes", INT64))
    mode: int = field(default=0, metadata=jf("Mode", FILE_MODE))
    options: Any = field(default=None, metadata=jf("Options", RAW))


DEFAULT_PROPAGATION = "rprivate"


@dataclass(frozen=True)
class MountPoint:
    """One mount point of a container: moby's `volume/mounts.MountPoint`, the fields
    inspect shows plus what the start needs."""

    type: str  # bind, volume or tmpfs
    destination: str
    source: str = ""  # a bind's host path, a volume's data directory
    name: str = ""  # a volume's name
    driver: str = ""
    mode: str = ""  # the `-v` mode as given ("z" for a local volume without one)
    rw: bool = True
    propagation: str = ""
    copy_data: bool = False  # an empty volume is filled from the image's content first
    anonymous: bool = False  # a volume without a name of the user's: `rm -v` removes it
    create_source: bool = False  # a `-v` bind whose missing host directory is created
    non_recursive: bool = False
    tmpfs_data: str = ""  # a `--mount type=tmpfs`'s options, as mount(8) data
    # A `--mount type=volume`'s DriverConfig.Options and Labels: the volume is created
    # with them if it does not exist yet (domain/volume.py), as dockerd's.
    volume_options: dict[str, str] | None = None
    volume_labels: dict[str, str] | None = None
    # A `--mount type=volume`'s VolumeOptions.Subpath (API 1.45): the directory or file
    # of the volume mounted instead of all of it, resolved inside the volume at start.
    subpath: str = ""

    def to_docker(self) -> dict[str, Any]:
        """Docker's `types.MountPoint` (Type, Name and Driver are omitted when empty)."""
        doc: dict[str, Any] = {"Type": self.type, "Name": self.name}
        doc = {k: v for k, v in doc.items() if v}
        doc.update(Source=self.source, Destination=self.destination)
        if self.driver:
            doc["Driver"] = self.driver
        doc.update(Mode=self.mode, RW=self.rw, Propagation=self.propagation)
        return doc

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> MountPoint:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


def mount_points_of(records: Sequence[Mapping[str, Any]] | None) -> tuple[MountPoint, ...]:
    """The mount points stored with a container; none for a log written before them."""
    return tuple(MountPoint.from_record(r) for r in records or ())


def validate_volume_name(name: str) -> None:
    """The local driver's `validateName`, message included."""
    problem = volume_name_problem(name)
    if problem is not None:
        raise InvalidParameter(problem)


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """linux_parser `ParseVolumesFrom`: `container[:mode]` → (container, mode)."""
    if spec == "":
        raise InvalidParameter("volumes-from specification cannot be an empty string")
    ref, sep, mode = spec.partition(":")
    if not sep:
        return ref, "rw"
    options = mode.split(",")
    # Propagation and copy modes are refused: the original's are kept.
    if not valid_mount_mode(mode) or any(o in PROPAGATION_MODES or o == "nocopy" for o in options):
        raise InvalidParameter(f"invalid mode: {mode}")
    return ref, mode


def duplicate_mount_point(destination: str) -> InvalidParameter:
    return InvalidParameter(f"Duplicate mount point: {destination}")


@dataclass
class _Planner:
    new_volume_name: Callable[[], str]
    volumes_dir: str
    daemon_root: str

    def volume_source(self, name: str) -> str:
        return data_path(self.volumes_dir, name)

    def bind_propagation(self, source: str, asked: str) -> str:
        """validateBindDaemonRoot: a bind of (or above) the engine's root must be rslave or
        rshared, and is rslave unless asked otherwise."""
        root = self.daemon_root
        if not root or not (source.startswith(root) or root.startswith(source)):
            return asked or DEFAULT_PROPAGATION
        if asked in ("", "rslave", "rshared"):
            return asked or "rslave"
        raise InvalidParameter(
            'invalid mount config: must use either propagation mode "rslave" or "rshared" '
            f"when mount source is within the daemon root, daemon root: {go_quote(root)}, "
            f"bind mount source: {go_quote(source)}, propagation: {go_quote(asked)}"
        )

    def volume(self, source: str, destination: str, mode: str, rw: bool, copy: bool) -> MountPoint:
        if source:
            validate_volume_name(source)
        name = source or self.new_volume_name()
        return MountPoint(
            "volume", destination, self.volume_source(name), name, LOCAL_DRIVER,
            mode, rw, "", copy, anonymous=not source,
        )  # fmt: skip

    def from_bind(self, raw: str) -> MountPoint:
        bind = parse_bind(raw)
        destination = go_clean(bind.target)
        options = bind.mode.split(",") if bind.mode else []
        if bind.type == "volume":
            # setBindModeIfNull: a local volume's mode defaults to "z".
            mode = bind.mode or "z"
            return self.volume(
                bind.source, destination, mode, not bind.read_only, "nocopy" not in options
            )
        source = go_clean(bind.source)
        propagation = self.bind_propagation(source, bind.propagation)
        return MountPoint(
            "bind", destination, source, mode=bind.mode, rw=not bind.read_only,
            propagation=propagation, create_source=True,
        )  # fmt: skip

    def from_mount(self, mount: Mount) -> MountPoint:
        error = mount_error(mount) or _unsupported(mount)
        if error:
            raise InvalidParameter(error)
        destination = go_clean(mount.target)
        if mount.type == "volume":
            volume = VolumeOptions.from_docker(mount.volume_options or {})
            point = self.volume(
                mount.source, destination, "z", not mount.read_only, not volume.no_copy
            )
            driver_options = volume.driver_config.options if volume.driver_config else None
            return replace(
                point,
                volume_options=None if driver_options is None else dict(driver_options),
                volume_labels=None if volume.labels is None else dict(volume.labels),
                subpath=volume.subpath,
                copy_data=point.copy_data and not volume.subpath,
            )
        if mount.type == "tmpfs":
            tmpfs = TmpfsOptions.from_docker(mount.tmpfs_options or {})
            data = tmpfs_data(tmpfs, mount.read_only)
            return MountPoint("tmpfs", destination, rw=not mount.read_only, tmpfs_data=data)
        options = mount.bind_options
        source = go_clean(mount.source)
        return MountPoint(
            "bind", destination, source, rw=not mount.read_only,
            propagation=self.bind_propagation(source, options.propagation if options else ""),
            non_recursive=bool(options and options.non_recursive),
            create_source=bool(options and options.create_mountpoint),
        )  # fmt: skip


def _unsupported(mount: Mount) -> str | None:
    reason = None
    volume = VolumeOptions.from_docker(mount.volume_options or {})
    driver_config = volume.driver_config or MountDriver()
    driver = driver_config.name or LOCAL_DRIVER
    bind = mount.bind_options
    if mount.type not in ("bind", "volume", "tmpfs"):
        reason = "mount type unknown"
    elif mount.type == "volume" and not mount.source and mount.read_only:
        reason = "must not set ReadOnly mode when using anonymous volumes"
    elif driver != LOCAL_DRIVER:
        reason = f"volume driver {go_quote(driver)} is not supported by berth"
    elif bind and (bind.read_only_non_recursive or bind.read_only_force_recursive):
        reason = "BindOptions.ReadOnlyNonRecursive/ReadOnlyForceRecursive are not supported"
    elif TmpfsOptions.from_docker(mount.tmpfs_options or {}).options:
        reason = "TmpfsOptions.Options is not supported by berth"
    if reason is None:
        return None
    return f"invalid mount config for type {go_quote(mount.type)}: {reason}"


def tmpfs_data(options: TmpfsOptions, read_only: bool) -> str:
    """linux_parser `ConvertTmpfsOptions`: ro, mode in octal, size with the largest unit
    that divides it."""
    raw = ["ro"] if read_only else []
    if options.mode:
        raw.append(f"mode={options.mode:o}")
    size = options.size_bytes
    if size:
        suffix = ""
        for unit, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                size, suffix = size // divisor, unit
                break
        raw.append(f"size={size}{suffix}")
    return ",".join(raw)


def plan_mounts(
    config: Config,
    host: HostConfig,
    *,
    volumes_from: Mapping[str, Sequence[MountPoint]],
    new_volume_name: Callable[[], str],
    volumes_dir: str,
    daemon_root: str = "",
) -> tuple[MountPoint, ...]:
    """The container's mount points, sorted by destination.

    `volumes_from` maps each `VolumesFrom` entry's container reference to that
    container's mount points (the caller looks them up; a missing one is its error).
    """
    plan = _Planner(new_volume_name, volumes_dir, daemon_root)
    points: dict[str, MountPoint] = {}
    for spec in host.volumes_from or ():
        ref, mode = parse_volumes_from(spec)
        read_write = "ro" not in mode.split(",")
        for point in volumes_from[ref]:
            points[point.destination] = _inherited(point, read_write)
    inherited = set(points)
    taken: set[str] = set()
    for raw in host.binds or ():
        point = plan.from_bind(raw)
        if point.destination in taken or point.destination in host.tmpfs:
            raise duplicate_mount_point(point.destination)
        taken.add(point.destination)
        points[point.destination] = point
    for mount in host.mounts:
        point = plan.from_mount(mount)
        if point.destination in taken:
            raise duplicate_mount_point(mount.target)
        taken.add(point.destination)
        points[point.destination] = point
    for spec in sorted(config.volumes or ()):
        destination = go_clean(spec)
        if destination in points or destination in host.tmpfs:
            continue
        # AddMountPointWithVolume: no mode, unlike `-v name:/x`.
        points[destination] = plan.volume("", destination, "", True, True)
    _check_volume_driver(host.volume_driver, points.values(), inherited)
    return tuple(points[d] for d in sorted(points))


def _check_volume_driver(
    driver: str, points: Iterable[MountPoint], inherited: Collection[str]
) -> None:
    """`--volume-driver` names the driver of the container's volumes; with none to
    make it is kept and has no effect, as dockerd's. A plugin driver is dockerd's
    lookup failure for the first volume that would need it: berth has only `local`."""
    if driver in ("", LOCAL_DRIVER):
        return
    for point in points:
        if point.type == "volume" and point.destination not in inherited:
            raise NotFound(
                f"create {point.name}: error looking up volume plugin {driver}: "
                f'plugin "{driver}" not found'
            )


def _inherited(point: MountPoint, read_write: bool) -> MountPoint:
    """A mount point of another container (`--volumes-from`): never copied up again."""
    return replace(point, rw=point.rw and read_write, copy_data=False, create_source=False)
