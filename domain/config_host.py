"""Docker's `container.HostConfig` and the small structs it is made of.

Field order follows the Go struct (dockerd 20.10, plus `Annotations` from later API
versions), so `to_docker` writes keys in the order `docker inspect` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config_json import (
    BOOL,
    INT,
    INT64,
    RAW,
    STR,
    STRLIST,
    STRMAP,
    STRSLICE,
    UINT,
    UINT16,
    UINT64,
    Codec,
    DockerStruct,
    ListOf,
    MapOf,
    Opt,
    Struct,
    jf,
    type_error,
)


class _UintPair(Codec):
    """Go's `[2]uint` (ConsoleSize): missing elements are 0, extra ones are dropped."""

    go_type = "[2]uint"

    def zero(self) -> Any:
        return (0, 0)

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return (0, 0)
        if not isinstance(value, list | tuple):
            raise type_error(value, where, self.go_type)
        items = [0 if v is None else UINT.decode(v, where) for v in value[:2]]
        items += [0] * (2 - len(items))
        return (items[0], items[1])

    def encode(self, value: Any) -> Any:
        return list(value)


@dataclass(frozen=True)
class RestartPolicy(DockerStruct):
    GO_STRUCT = "RestartPolicy"
    GO_TYPE = "container.RestartPolicy"

    name: str = field(default="", metadata=jf("Name", STR))
    maximum_retry_count: int = field(default=0, metadata=jf("MaximumRetryCount", INT))


@dataclass(frozen=True)
class LogConfig(DockerStruct):
    GO_STRUCT = "LogConfig"
    GO_TYPE = "container.LogConfig"

    type: str = field(default="", metadata=jf("Type", STR))
    config: Mapping[str, str] | None = field(default=None, metadata=jf("Config", STRMAP))


@dataclass(frozen=True)
class PortBinding(DockerStruct):
    GO_STRUCT = "PortBinding"
    GO_TYPE = "nat.PortBinding"

    host_ip: str = field(default="", metadata=jf("HostIp", STR))
    host_port: str = field(default="", metadata=jf("HostPort", STR))


@dataclass(frozen=True)
class DeviceMapping(DockerStruct):
    GO_STRUCT = "DeviceMapping"
    GO_TYPE = "container.DeviceMapping"

    path_on_host: str = field(default="", metadata=jf("PathOnHost", STR))
    path_in_container: str = field(default="", metadata=jf("PathInContainer", STR))
    cgroup_permissions: str = field(default="", metadata=jf("CgroupPermissions", STR))


@dataclass(frozen=True)
class DeviceRequest(DockerStruct):
    GO_STRUCT = "DeviceRequest"
    GO_TYPE = "container.DeviceRequest"

    driver: str = field(default="", metadata=jf("Driver", STR))
    count: int = field(default=0, metadata=jf("Count", INT))
    device_ids: tuple[str, ...] | None = field(default=None, metadata=jf("DeviceIDs", STRLIST))
    capabilities: tuple[tuple[str, ...] | None, ...] | None = field(
        default=None, metadata=jf("Capabilities", ListOf(STRLIST))
    )
    options: Mapping[str, str] | None = field(default=None, metadata=jf("Options", STRMAP))


@dataclass(frozen=True)
class Ulimit(DockerStruct):
    GO_STRUCT = "Ulimit"
    GO_TYPE = "units.Ulimit"

    name: str = field(default="", metadata=jf("Name", STR))
    hard: int = field(default=0, metadata=jf("Hard", INT64))
    soft: int = field(default=0, metadata=jf("Soft", INT64))


@dataclass(frozen=True)
class WeightDevice(DockerStruct):
    GO_STRUCT = "WeightDevice"
    GO_TYPE = "blkiodev.WeightDevice"

    path: str = field(default="", metadata=jf("Path", STR))
    weight: int = field(default=0, metadata=jf("Weight", UINT16))


@dataclass(frozen=True)
class ThrottleDevice(DockerStruct):
    GO_STRUCT = "ThrottleDevice"
    GO_TYPE = "blkiodev.ThrottleDevice"

    path: str = field(default="", metadata=jf("Path", STR))
    rate: int = field(default=0, metadata=jf("Rate", UINT64))


@dataclass(frozen=True)
class BindOptions(DockerStruct):
    GO_STRUCT = "BindOptions"
    GO_TYPE = "mount.BindOptions"

    propagation: str = field(default="", metadata=jf("Propagation", STR, omitempty=True))
    non_recursive: bool = field(default=False, metadata=jf("NonRecursive", BOOL, omitempty=True))
    create_mountpoint: bool = field(
        default=False, metadata=jf("CreateMountpoint", BOOL, omitempty=True)
    )
    read_only_non_recursive: bool = field(
        default=False, metadata=jf("ReadOnlyNonRecursive", BOOL, omitempty=True)
    )
    read_only_force_recursive: bool = field(
        default=False, metadata=jf("ReadOnlyForceRecursive", BOOL, omitempty=True)
    )


@dataclass(frozen=True)
class Mount(DockerStruct):
    """One entry of `HostConfig.Mounts`; volume, tmpfs and image options are kept verbatim."""

    GO_STRUCT = "Mount"
    GO_TYPE = "mount.Mount"

    type: str = field(default="", metadata=jf("Type", STR, omitempty=True))
    source: str = field(default="", metadata=jf("Source", STR, omitempty=True))
    target: str = field(default="", metadata=jf("Target", STR, omitempty=True))
    read_only: bool = field(default=False, metadata=jf("ReadOnly", BOOL, omitempty=True))
    consistency: str = field(default="", metadata=jf("Consistency", STR, omitempty=True))
    bind_options: BindOptions | None = field(
        default=None, metadata=jf("BindOptions", Opt(Struct(BindOptions)), omitempty=True)
    )
    volume_options: Mapping[str, Any] | None = field(
        default=None, metadata=jf("VolumeOptions", RAW, omitempty=True)
    )
    image_options: Mapping[str, Any] | None = field(
        default=None, metadata=jf("ImageOptions", RAW, omitempty=True)
    )
    tmpfs_options: Mapping[str, Any] | None = field(
        default=None, metadata=jf("TmpfsOptions", RAW, omitempty=True)
    )


_PORT_MAP = MapOf(ListOf(Struct(PortBinding)), go_type="nat.PortMap")
_OPT_MAP = MapOf(STR, nil_is_empty=True)
_THROTTLE = ListOf(Struct(ThrottleDevice), go_type="[]*blkiodev.ThrottleDevice")


@dataclass(frozen=True)
class HostConfig(DockerStruct):
    """Docker's `container.HostConfig`, resources flattened in as the JSON has them."""

    GO_STRUCT = "HostConfig"
    GO_TYPE = "container.HostConfig"

    binds: tuple[str, ...] | None = field(default=None, metadata=jf("Binds", STRLIST))
    container_id_file: str = field(default="", metadata=jf("ContainerIDFile", STR))
    log_config: LogConfig = field(
        default_factory=LogConfig, metadata=jf("LogConfig", Struct(LogConfig))
    )
    network_mode: str = field(default="", metadata=jf("NetworkMode", STR))
    port_bindings: Mapping[str, tuple[PortBinding, ...] | None] | None = field(
        default=None, metadata=jf("PortBindings", _PORT_MAP)
    )
    restart_policy: RestartPolicy = field(
        default_factory=RestartPolicy, metadata=jf("RestartPolicy", Struct(RestartPolicy))
    )
    auto_remove: bool = field(default=False, metadata=jf("AutoRemove", BOOL))
    volume_driver: str = field(default="", metadata=jf("VolumeDriver", STR))
    volumes_from: tuple[str, ...] | None = field(default=None, metadata=jf("VolumesFrom", STRLIST))
    cap_add: tuple[str, ...] | None = field(default=None, metadata=jf("CapAdd", STRSLICE))
    cap_drop: tuple[str, ...] | None = field(default=None, metadata=jf("CapDrop", STRSLICE))
    cgroupns_mode: str = field(default="", metadata=jf("CgroupnsMode", STR))
    dns: tuple[str, ...] | None = field(default=None, metadata=jf("Dns", STRLIST))
    dns_options: tuple[str, ...] | None = field(default=None, metadata=jf("DnsOptions", STRLIST))
    dns_search: tuple[str, ...] | None = field(default=None, metadata=jf("DnsSearch", STRLIST))
    extra_hosts: tuple[str, ...] | None = field(default=None, metadata=jf("ExtraHosts", STRLIST))
    group_add: tuple[str, ...] | None = field(default=None, metadata=jf("GroupAdd", STRLIST))
    ipc_mode: str = field(default="", metadata=jf("IpcMode", STR))
    cgroup: str = field(default="", metadata=jf("Cgroup", STR))
    links: tuple[str, ...] | None = field(default=None, metadata=jf("Links", STRLIST))
    oom_score_adj: int = field(default=0, metadata=jf("OomScoreAdj", INT))
    pid_mode: str = field(default="", metadata=jf("PidMode", STR))
    privileged: bool = field(default=False, metadata=jf("Privileged", BOOL))
    publish_all_ports: bool = field(default=False, metadata=jf("PublishAllPorts", BOOL))
    readonly_rootfs: bool = field(default=False, metadata=jf("ReadonlyRootfs", BOOL))
    security_opt: tuple[str, ...] | None = field(default=None, metadata=jf("SecurityOpt", STRLIST))
    storage_opt: Mapping[str, str] = field(
        default_factory=dict, metadata=jf("StorageOpt", _OPT_MAP, omitempty=True)
    )
    tmpfs: Mapping[str, str] = field(
        default_factory=dict, metadata=jf("Tmpfs", _OPT_MAP, omitempty=True)
    )
    uts_mode: str = field(default="", metadata=jf("UTSMode", STR))
    userns_mode: str = field(default="", metadata=jf("UsernsMode", STR))
    shm_size: int = field(default=0, metadata=jf("ShmSize", INT64))
    sysctls: Mapping[str, str] = field(
        default_factory=dict, metadata=jf("Sysctls", _OPT_MAP, omitempty=True)
    )
    runtime: str = field(default="", metadata=jf("Runtime", STR, omitempty=True))
    console_size: tuple[int, int] = field(default=(0, 0), metadata=jf("ConsoleSize", _UintPair()))
    isolation: str = field(default="", metadata=jf("Isolation", STR))
    cpu_shares: int = field(default=0, metadata=jf("CpuShares", INT64))
    memory: int = field(default=0, metadata=jf("Memory", INT64))
    nano_cpus: int = field(default=0, metadata=jf("NanoCpus", INT64))
    cgroup_parent: str = field(default="", metadata=jf("CgroupParent", STR))
    blkio_weight: int = field(default=0, metadata=jf("BlkioWeight", UINT16))
    blkio_weight_device: tuple[WeightDevice, ...] | None = field(
        default=None,
        metadata=jf(
            "BlkioWeightDevice",
            ListOf(Struct(WeightDevice), go_type="[]*blkiodev.WeightDevice"),
        ),
    )
    blkio_device_read_bps: tuple[ThrottleDevice, ...] | None = field(
        default=None, metadata=jf("BlkioDeviceReadBps", _THROTTLE)
    )
    blkio_device_write_bps: tuple[ThrottleDevice, ...] | None = field(
        default=None, metadata=jf("BlkioDeviceWriteBps", _THROTTLE)
    )
    blkio_device_read_iops: tuple[ThrottleDevice, ...] | None = field(
        default=None, metadata=jf("BlkioDeviceReadIOps", _THROTTLE)
    )
    blkio_device_write_iops: tuple[ThrottleDevice, ...] | None = field(
        default=None, metadata=jf("BlkioDeviceWriteIOps", _THROTTLE)
    )
    cpu_period: int = field(default=0, metadata=jf("CpuPeriod", INT64))
    cpu_quota: int = field(default=0, metadata=jf("CpuQuota", INT64))
    cpu_realtime_period: int = field(default=0, metadata=jf("CpuRealtimePeriod", INT64))
    cpu_realtime_runtime: int = field(default=0, metadata=jf("CpuRealtimeRuntime", INT64))
    cpuset_cpus: str = field(default="", metadata=jf("CpusetCpus", STR))
    cpuset_mems: str = field(default="", metadata=jf("CpusetMems", STR))
    devices: tuple[DeviceMapping, ...] | None = field(
        default=None, metadata=jf("Devices", ListOf(Struct(DeviceMapping)))
    )
    device_cgroup_rules: tuple[str, ...] | None = field(
        default=None, metadata=jf("DeviceCgroupRules", STRLIST)
    )
    device_requests: tuple[DeviceRequest, ...] | None = field(
        default=None, metadata=jf("DeviceRequests", ListOf(Struct(DeviceRequest)))
    )
    kernel_memory: int = field(default=0, metadata=jf("KernelMemory", INT64))
    kernel_memory_tcp: int = field(default=0, metadata=jf("KernelMemoryTCP", INT64))
    memory_reservation: int = field(default=0, metadata=jf("MemoryReservation", INT64))
    memory_swap: int = field(default=0, metadata=jf("MemorySwap", INT64))
    memory_swappiness: int | None = field(default=None, metadata=jf("MemorySwappiness", Opt(INT64)))
    oom_kill_disable: bool | None = field(default=None, metadata=jf("OomKillDisable", Opt(BOOL)))
    pids_limit: int | None = field(default=None, metadata=jf("PidsLimit", Opt(INT64)))
    ulimits: tuple[Ulimit, ...] | None = field(
        default=None, metadata=jf("Ulimits", ListOf(Struct(Ulimit), go_type="[]*units.Ulimit"))
    )
    cpu_count: int = field(default=0, metadata=jf("CpuCount", INT64))
    cpu_percent: int = field(default=0, metadata=jf("CpuPercent", INT64))
    io_maximum_iops: int = field(default=0, metadata=jf("IOMaximumIOps", UINT64))
    io_maximum_bandwidth: int = field(default=0, metadata=jf("IOMaximumBandwidth", UINT64))
    mounts: tuple[Mount, ...] = field(
        default=(),
        metadata=jf("Mounts", ListOf(Struct(Mount), nil_is_empty=True), omitempty=True),
    )
    masked_paths: tuple[str, ...] | None = field(default=None, metadata=jf("MaskedPaths", STRLIST))
    readonly_paths: tuple[str, ...] | None = field(
        default=None, metadata=jf("ReadonlyPaths", STRLIST)
    )
    init: bool | None = field(default=None, metadata=jf("Init", Opt(BOOL), omitempty=True))
    annotations: Mapping[str, str] = field(
        default_factory=dict, metadata=jf("Annotations", _OPT_MAP, omitempty=True)
    )
