"""The pure steps of container create: merge with the image, verify, adapt.

They follow dockerd's create path in the order it runs them:

1. `verify_settings` — the checks of `runconfig` (run while decoding the request),
   `verifyContainerSettings` (`validateContainerConfig`, `validateHostConfig`,
   `verifyPlatformContainerSettings`), the `Binds` parse of `registerMountPoints` and
   the container-name check; right after runconfig's, what berth does not apply yet is
   refused (settings_support, whose table says what berth does with every field).
   Errors are InvalidParameter (400) with dockerd's messages; what dockerd only warns
   about comes back as the list of warnings.
2. `adapt_settings` — `adaptContainerSettings` and the API layer's defaults.
3. `merge_config` — `mergeAndVerifyConfig`, once the image is known.

Checks that need the host (does a bind source exist, does the kernel support swap
limits, how many CPUs are there) are not made here; the adapters make them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from .config import Config, HostConfig, NetworkingConfig
from .container_names import validate_name
from .errors import InvalidParameter, NotFound
from .health import merge_healthcheck
from .log_config import DRIVERS, verify_log_config
from .network_ipam import check_address_forms
from .settings_files import check_file_values
from .settings_rules import (
    MIN_HEALTH_DURATION,
    MIN_MEMORY,
    device_cgroup_rule,
    mount_error,
    normalize_capabilities,
    parse_bind,
    parse_uint_list,
    validate_device_mapping,
    validate_env,
    validate_extra_host,
    validate_host_port,
    validate_port_key,
    validate_tmpfs_destination,
)
from .settings_support import refuse_unapplied
from .signals import parse_signal

MIB = 1024 * 1024
MIN_CPU_SHARES = 2
MAX_CPU_SHARES = 262144
DEFAULT_SHM_SIZE = 64 * MIB
# The issue fixes "bridge" where dockerd 20.10 stores "default" (which it resolves to the
# bridge network); see ADR/0005. A client that sends "default" keeps it.
DEFAULT_NETWORK_MODE = "bridge"
BUILTIN_NETWORKS = ("default", "bridge", "none", "host")
BUILTIN_NETWORK_MODES = ("", *BUILTIN_NETWORKS)
DEFAULT_IPC_MODE = "private"
DEFAULT_RUNTIME = "runc"
DEFAULT_LOG_DRIVER = DRIVERS[0]

WARN_PUBLISH_ON_HOST_NETWORK = "Published ports are discarded when using host network mode"
WARN_OOM_KILL_WITHOUT_LIMIT = (
    "OOM killer is disabled for the container, but no memory limit is set, this can result "
    "in the system running out of resources."
)
WARN_CPU_PERCENT = "linux does not support CPU percent. Percent discarded."


def merge_config(user: Config, image: Config) -> Config:
    """moby `merge` + `mergeAndVerifyConfig`: fill what the user left empty from the image.

    Env keeps the user's entries in their order, then the image's entries whose name the
    user did not set. An Entrypoint given by the user drops the image's Cmd. Raises
    InvalidParameter `No command specified` when the result has nothing to run. The
    image's Healthcheck is merged field by field (health.py, ADR/0036).
    """
    exposed = user.exposed_ports
    if not exposed:
        exposed = image.exposed_ports
    elif image.exposed_ports:
        exposed = tuple(sorted(set(exposed) | set(image.exposed_ports)))

    env = user.env
    if not env:
        env = image.env
    elif image.env:
        user_keys = {entry.partition("=")[0] for entry in env}
        env = env + tuple(e for e in image.env if e.partition("=")[0] not in user_keys)

    labels = dict(user.labels or {})
    for key, value in (image.labels or {}).items():
        labels.setdefault(key, value)

    cmd, entrypoint = user.cmd, user.entrypoint
    if not entrypoint:
        if not cmd:
            cmd = image.cmd
        if entrypoint is None:
            entrypoint = image.entrypoint

    volumes = user.volumes
    if not volumes:
        volumes = image.volumes
    elif image.volumes:
        volumes = tuple(sorted(set(volumes) | set(image.volumes)))

    # `--entrypoint ""` arrives as [""]: it means "no entrypoint", not an empty program.
    if entrypoint is not None and len(entrypoint) == 1 and entrypoint[0] == "":
        entrypoint = None
    if not entrypoint and not cmd:
        raise InvalidParameter("No command specified")

    return dataclasses.replace(
        user,
        user=user.user or image.user,
        exposed_ports=exposed,
        env=env,
        labels=labels,
        cmd=cmd,
        entrypoint=entrypoint,
        working_dir=user.working_dir or image.working_dir,
        volumes=volumes,
        healthcheck=merge_healthcheck(user.healthcheck, image.healthcheck),
        stop_signal=user.stop_signal or image.stop_signal,
    )


def verify_settings(
    config: Config | None,
    host_config: HostConfig,
    name: str | None = None,
    *,
    ncpu: int | None = None,
    networking: NetworkingConfig | None = None,
    networks: Collection[str] = (),
) -> list[str]:
    """Refuse a create request the way dockerd does; return dockerd's warnings.

    `config` is None when the request carried no config fields at all. `ncpu`, when
    known, enables dockerd's NanoCpus range check, which depends on the host.
    `networks` are the names and ids of the user-defined networks that exist.
    """
    if config is None or config == Config():
        raise InvalidParameter("config cannot be empty in order to create a container")
    # runconfig's checks run while dockerd decodes the request, before anything else.
    _check_request(config, host_config, networking or NetworkingConfig(), networks)
    refuse_unapplied(config, host_config, networking)
    check_file_values(config, host_config)
    _check_container_config(config)
    _check_host_config(host_config)
    warnings = _check_resources(host_config, ncpu)
    warnings += _check_platform(host_config)
    for bind in host_config.binds or ():
        parse_bind(bind)
    if name:
        validate_name(name)
    return warnings


def verify_update_settings(config: Config, host_config: HostConfig) -> list[str]:
    """dockerd's checks of an update's host config (`docker update`), as at create."""
    refuse_unapplied(config, host_config)
    _check_host_config(host_config)
    return _check_resources(host_config, None)


def _is_container_mode(mode: str) -> bool:
    return mode.partition(":")[0] == "container" and ":" in mode


def _check_request(
    config: Config, hc: HostConfig, networking: NetworkingConfig, networks: Collection[str] = ()
) -> None:
    """runconfig's decode-time checks: network mode, isolation, QoS, CPU resources."""
    for port in config.exposed_ports:
        validate_port_key(port)
    mode = hc.network_mode
    if mode == "container" or _is_container_mode(mode):
        conflicts = (
            (mode.partition(":")[2] == "", "invalid network mode: invalid container format "
             "container:<name|id>"),
            (config.hostname != "", "conflicting options: hostname and the network mode"),
            (bool(hc.links), "conflicting options: container type network can't be used "
             "with links. This would result in undefined behavior"),
            (bool(hc.dns), "conflicting options: dns and the network mode"),
            (bool(hc.extra_hosts), "conflicting options: custom host-to-IP mapping and the "
             "network mode"),
            (bool(hc.port_bindings) or hc.publish_all_ports, "conflicting options: port "
             "publishing and the container type network mode"),
            (bool(config.exposed_ports), "conflicting options: port exposing and the "
             "container type network mode"),
        )  # fmt: skip
        for failed, message in conflicts:
            if failed:
                raise InvalidParameter(message)
    # As dockerd, an unknown network is refused at create, not discovered at start; the
    # same for an endpoint. dockerd 20.10 takes one endpoint at create, others by connect.
    known = (*BUILTIN_NETWORK_MODES, *networks)
    if mode not in known and mode != "container" and not _is_container_mode(mode):
        raise NotFound(f"network {mode} not found")
    endpoints = list(networking.endpoints_config or {})
    if len(endpoints) > 1:
        raise InvalidParameter(
            "Container cannot be connected to network endpoints: " + ", ".join(endpoints)
        )
    for network, endpoint in (networking.endpoints_config or {}).items():
        if network not in (*BUILTIN_NETWORKS, *networks) and network != mode:
            raise NotFound(f"network {network} not found")
        if endpoint is not None and endpoint.ipam_config is not None:
            ipam = endpoint.ipam_config
            check_address_forms(ipam.ipv4_address, ipam.ipv6_address, ipam.link_local_ips or ())
    if hc.uts_mode == "host" and config.hostname != "":
        raise InvalidParameter("conflicting options: hostname and the UTS mode")
    if mode == "host" and hc.links:
        raise InvalidParameter(
            "conflicting options: host type networking can't be used with links. "
            "This would result in undefined behavior"
        )
    if hc.isolation and hc.isolation.lower() != "default":
        raise InvalidParameter(f"invalid isolation ({hc.isolation}): linux only supports 'default'")
    if hc.io_maximum_bandwidth != 0:
        raise InvalidParameter(
            "invalid option: QoS maximum bandwidth configuration is not supported on linux"
        )
    if hc.io_maximum_iops != 0:
        raise InvalidParameter(
            "invalid option: QoS maximum IOPs configuration is not supported on linux"
        )
    if (
        hc.cpu_realtime_period != 0
        and hc.cpu_realtime_runtime != 0
        and hc.cpu_realtime_runtime > hc.cpu_realtime_period
    ):
        raise InvalidParameter("cpu real-time runtime cannot be higher than cpu real-time period")
    if hc.cpu_shares < 0:
        raise InvalidParameter(
            f"invalid CPU shares ({hc.cpu_shares}): value must be a positive integer"
        )


def _check_container_config(config: Config) -> None:
    """`validateContainerConfig`."""
    if config.working_dir and not config.working_dir.startswith("/"):
        raise InvalidParameter(
            f"the working directory '{config.working_dir}' is invalid, "
            "it needs to be an absolute path"
        )
    if config.stop_signal:
        parse_signal(config.stop_signal)
    for entry in config.env or ():
        validate_env(entry)
    health = config.healthcheck
    if health is None:
        return
    for label, value in (("Interval", health.interval), ("Timeout", health.timeout)):
        if value != 0 and value < MIN_HEALTH_DURATION:
            raise InvalidParameter(f"{label} in Healthcheck cannot be less than 1ms")
    if health.retries < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")
    for label, value in (
        ("StartPeriod", health.start_period),
        ("StartInterval", health.start_interval),
    ):
        if value != 0 and value < MIN_HEALTH_DURATION:
            raise InvalidParameter(f"{label} in Healthcheck cannot be less than 1ms")


def _check_host_config(hc: HostConfig) -> None:
    """`validateHostConfig`."""
    policy = hc.restart_policy
    if hc.auto_remove and policy.name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    for mount in hc.mounts:
        error = mount_error(mount)
        if error:
            raise InvalidParameter(error)
    for host in hc.extra_hosts or ():
        validate_extra_host(host)
    for device in hc.devices or ():
        validate_device_mapping(
            device.path_on_host, device.path_in_container, device.cgroup_permissions
        )
    for rule in hc.device_cgroup_rules or ():
        device_cgroup_rule(rule)
    for port, bindings in (hc.port_bindings or {}).items():
        validate_port_key(port)
        for binding in bindings or ():
            validate_host_port(binding.host_port)
    _check_restart_policy(policy.name, policy.maximum_retry_count)
    normalize_capabilities(hc.cap_add or (), "CapAdd")
    normalize_capabilities(hc.cap_drop or (), "CapDrop")
    verify_log_config(hc.log_config)
    if "" in hc.annotations:
        raise InvalidParameter(
            "invalid Annotations: the empty string is not permitted as an annotation key"
        )


def _check_restart_policy(name: str, retries: int) -> None:
    """api/types/container `ValidateRestartPolicy`."""
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            message = (
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
            )
            if retries < 0:
                message += " and cannot be negative"
            raise InvalidParameter(message)
    elif name == "on-failure":
        if retries < 0:
            raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    elif name != "":
        raise InvalidParameter(
            f"invalid restart policy: unknown policy '{name}'; use one of "
            "'no', 'always', 'on-failure', or 'unless-stopped'"
        )


def _check_resources(hc: HostConfig, ncpu: int | None) -> list[str]:
    """`verifyPlatformContainerResources`, minus what depends on the kernel's cgroups."""
    warnings: list[str] = []
    swappiness = hc.memory_swappiness
    if swappiness == -1:  # fixMemorySwappiness: -1 means "unset"
        swappiness = None
    checks = (
        (hc.memory != 0 and hc.memory < MIN_MEMORY, "Minimum memory limit allowed is 6MB"),
        (hc.memory > 0 and 0 < hc.memory_swap < hc.memory,
         "Minimum memoryswap limit should be larger than memory limit, see usage"),
        (hc.memory == 0 and hc.memory_swap > 0,
         "You should always set the Memory limit when using Memoryswap limit, see usage"),
        (swappiness is not None and not 0 <= swappiness <= 100,
         f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"),
        (0 < hc.memory_reservation < MIN_MEMORY, "Minimum memory reservation allowed is 6MB"),
        (0 < hc.memory < hc.memory_reservation,
         "Minimum memory limit can not be less than memory reservation limit, see usage"),
        (0 < hc.kernel_memory < MIN_MEMORY, "Minimum kernel memory limit allowed is 6MB"),
        (hc.nano_cpus > 0 and hc.cpu_period > 0,
         "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (hc.nano_cpus > 0 and hc.cpu_quota > 0,
         "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (ncpu is not None and not 0 <= hc.nano_cpus <= ncpu * 10**9,
         f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"),
        (hc.cpu_period != 0 and not 1000 <= hc.cpu_period <= 1_000_000,
         "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        (0 < hc.cpu_quota < 1000, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (hc.blkio_weight > 0 and not 10 <= hc.blkio_weight <= 1000,
         "Range of blkio weight is from 10 to 1000"),
    )  # fmt: skip
    for failed, message in checks:
        if failed:
            raise InvalidParameter(message)
    if hc.oom_kill_disable and hc.memory == 0:
        warnings.append(WARN_OOM_KILL_WITHOUT_LIMIT)
    if hc.cpu_percent > 0:
        warnings.append(WARN_CPU_PERCENT)
    for value, what in ((hc.cpuset_cpus, "cpuset cpus"), (hc.cpuset_mems, "cpuset mems")):
        try:
            parse_uint_list(value)
        except InvalidParameter as err:
            raise InvalidParameter(f"Invalid value {value} for {what}: {err.message}") from None
    return warnings


def _namespace_mode_ok(mode: str, *, private: bool) -> bool:
    if mode in ("", "host") or (mode.startswith("container:") and mode[len("container:") :]):
        return True
    return private and mode in ("none", "private", "shareable")


def _check_platform(hc: HostConfig) -> list[str]:
    """`verifyPlatformContainerSettings` after the resources."""
    if not _namespace_mode_ok(hc.ipc_mode, private=True):
        raise InvalidParameter(f"invalid IPC mode: {hc.ipc_mode}")
    if not _namespace_mode_ok(hc.pid_mode, private=False):
        raise InvalidParameter(f"invalid PID mode: {hc.pid_mode}")
    if hc.shm_size < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    if hc.uts_mode not in ("", "host"):
        raise InvalidParameter(f"invalid UTS mode: {hc.uts_mode}")
    if not -1000 <= hc.oom_score_adj <= 1000:
        raise InvalidParameter(
            f"Invalid value {hc.oom_score_adj}, range for oom score adj is [-1000, 1000]"
        )
    warnings: list[str] = []
    if hc.network_mode == "host" and hc.port_bindings:
        warnings.append(WARN_PUBLISH_ON_HOST_NETWORK)
    for dest in sorted(hc.tmpfs):
        validate_tmpfs_destination(dest)
    if hc.cgroupns_mode not in ("", "host", "private"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {hc.cgroupns_mode}")
    return warnings


def adapt_settings(
    host_config: HostConfig, *, adjust_cpu_shares: bool = True, cgroup_v2: bool = True
) -> HostConfig:
    """`adaptContainerSettings` and the create handler's defaults, as a new HostConfig.

    CpuShares is clamped to the kernel's [2, 262144] (dockerd does so only for API
    clients older than 1.19; pass `adjust_cpu_shares=False` for exact parity). Defaults
    that depend on the daemon's configuration take dockerd's stock values.
    """
    hc = host_config
    changes: dict[str, Any] = {}
    if adjust_cpu_shares and hc.cpu_shares > 0:
        changes["cpu_shares"] = min(max(hc.cpu_shares, MIN_CPU_SHARES), MAX_CPU_SHARES)
    if hc.memory > 0 and hc.memory_swap == 0:
        changes["memory_swap"] = hc.memory * 2  # swap defaults to as much again as memory
    if hc.shm_size == 0:
        changes["shm_size"] = DEFAULT_SHM_SIZE
    if hc.ipc_mode == "":
        changes["ipc_mode"] = DEFAULT_IPC_MODE
    if hc.cpu_percent > 0:
        changes["cpu_percent"] = 0  # dockerd warns (verify) and discards it
    if hc.oom_kill_disable is None:
        changes["oom_kill_disable"] = False
    if hc.memory_swappiness == -1:
        changes["memory_swappiness"] = None
    if hc.pids_limit is not None and hc.pids_limit <= 0:
        changes["pids_limit"] = None  # 0 and negative both mean "unlimited"
    if hc.restart_policy.name == "":
        changes["restart_policy"] = dataclasses.replace(hc.restart_policy, name="no")
    if hc.network_mode == "":
        changes["network_mode"] = DEFAULT_NETWORK_MODE
    if hc.runtime == "":
        changes["runtime"] = DEFAULT_RUNTIME
    if hc.log_config.type == "":
        changes["log_config"] = dataclasses.replace(hc.log_config, type=DEFAULT_LOG_DRIVER)
    if hc.cgroupns_mode == "":  # a namespace of its own only where cgroups are unified
        changes["cgroupns_mode"] = "private" if cgroup_v2 else "host"
    return dataclasses.replace(hc, **changes) if changes else hc
