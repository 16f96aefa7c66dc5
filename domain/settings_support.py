"""What berth does with every field of a create request: the issue-13 rule as one table.

Each field of `Config`, `HostConfig`, `NetworkingConfig` and the structs inside them has
one entry: the Docker field, the docker CLI flag that sets it, and how berth supports it
(`Support`). A value berth would not carry out is refused at create with a 400 naming the
field, before anything else (`refuse_unapplied`, first thing in `verify_settings`), so
nothing is ever stored and ignored. Where dockerd itself refuses a value (an invalid IPC
mode, a malformed security option, a kernel memory under 6MB), the entry leaves it to
dockerd's own check and message. tests/domain/test_settings_support.py walks the
dataclasses: a field added to a struct without an entry here fails it.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .config import (
    BindOptions,
    Config,
    DeviceMapping,
    DeviceRequest,
    EndpointIPAMConfig,
    EndpointSettings,
    HealthConfig,
    HostConfig,
    LogConfig,
    Mount,
    NetworkingConfig,
    PortBinding,
    RestartPolicy,
    ThrottleDevice,
    Ulimit,
    WeightDevice,
)
from .errors import InvalidParameter
from .security_opts import SecurityOptions, parse_security_opts
from .settings_rules import MIN_HEALTH_DURATION, MIN_MEMORY


class Support(enum.Enum):
    APPLIED = "applied"  # the note says where
    STORAGE = "applied by issue 13's storage (binds, volumes, tmpfs)"
    REFUSED = "refused unless it has its zero value"
    PARTIAL = "applied, refused for the values berth does not carry out"
    IGNORED = "ignored, as dockerd ignores it on Linux"  # the note says why
    DOCKERD_REFUSES = "dockerd refuses all but its default on Linux, with its own message"
    PART_OF = "decided with the field that holds it"


# A value berth does not carry out: truthy; a string says which part of it.
Verdict = bool | str


@dataclass(frozen=True)
class Setting:
    owner: type
    attr: str
    flag: str
    support: Support
    note: str = ""
    refuses: Callable[[Any], Verdict] | None = None

    @property
    def field(self) -> str:
        """Docker's name of the field."""
        found = {f.name: f for f in dataclasses.fields(self.owner)}[self.attr]
        return str(found.metadata["docker"])


def _applied(owner: type, attr: str, flag: str, where: str) -> Setting:
    return Setting(owner, attr, flag, Support.APPLIED, where)


def _storage(owner: type, attr: str, flag: str) -> Setting:
    return Setting(owner, attr, flag, Support.STORAGE)


def _refused(owner: type, attr: str, flag: str, why: str = "") -> Setting:
    return Setting(owner, attr, flag, Support.REFUSED, why, bool)


def _partial(owner: type, attr: str, flag: str, refuses: Callable[[Any], Verdict]) -> Setting:
    return Setting(owner, attr, flag, Support.PARTIAL, refuses=refuses)


def _ignored(owner: type, attr: str, flag: str, why: str) -> Setting:
    return Setting(owner, attr, flag, Support.IGNORED, why)


def _part_of(owner: type, parent: str, *attrs: str) -> tuple[Setting, ...]:
    return tuple(Setting(owner, a, "", Support.PART_OF, parent) for a in attrs)


def _ipc_mode(mode: str) -> Verdict:
    """"none" is a private namespace without /dev/shm (berth always mounts one);
    `container:NAME` needs the donor's /dev/shm on the host (moby's ShmPath), which
    berth's, a mount inside the donor's own namespace, is not."""
    kind, _, name = mode.partition(":")
    return mode if mode == "none" or (kind == "container" and name) else False


def _healthcheck(health: HealthConfig | None) -> Verdict:
    """Probes run as dockerd 20.10's (health.py); StartInterval is API 1.44's (under
    1ms it is dockerd's own refusal, with its message)."""
    start_interval = 0 if health is None else health.start_interval
    return "StartInterval" if start_interval >= MIN_HEALTH_DURATION else False


def _security_opt(opts: Iterable[str] | None) -> Verdict:
    return parse_security_opts(opts or ()).unapplied() or False


def _kernel_memory(value: int) -> Verdict:
    # Under dockerd's minimum it is dockerd's own refusal, with its message.
    return value != 0 and not 0 < value < MIN_MEMORY


def _not_in(*allowed: str) -> Callable[[str], Verdict]:
    return lambda value: value if value not in allowed else False


def _rows(owner: type, rows: tuple[str, ...]) -> Iterator[tuple[type, str, str]]:
    """(owner, attr, flag) of "attr flag" rows; a flag may hold spaces."""
    for row in rows:
        attr, _, flag = row.partition(" ")
        yield owner, attr, flag


def _applied_in(where: str, owner: type, *rows: str) -> tuple[Setting, ...]:
    return tuple(_applied(o, a, f, where) for o, a, f in _rows(owner, rows))


def _refused_all(owner: type, *rows: str, why: str = "") -> tuple[Setting, ...]:
    return tuple(_refused(o, a, f, why) for o, a, f in _rows(owner, rows))


def _storage_all(owner: type, *rows: str) -> tuple[Setting, ...]:
    return tuple(_storage(o, a, f) for o, a, f in _rows(owner, rows))


NETWORKS = "the networks issue"
_OPERATIONAL = "set by the daemon when the container connects; a request's value is dropped"
_ATTACH = "the client attaches; dockerd only keeps it"
_BUILD = "read by image builds (Dockerfile ONBUILD, SHELL), not by create"

C, H, E = Config, HostConfig, EndpointSettings
SETTINGS: tuple[Setting, ...] = (
    *_applied_in("the monitor's stdio (adapters/runc/attach.py), attach", C, "open_stdin -i",
                 "stdin_once -i", "tty -t"),
    _applied(C, "hostname", "-h", "network files, spec hostname"),
    _applied(C, "domainname", "--domainname", "spec/builder: sysctl kernel.domainname"),
    _applied(C, "user", "-u", "spec/users"),
    _ignored(C, "attach_stdin", "-a stdin", _ATTACH),
    _ignored(C, "attach_stdout", "-a stdout", _ATTACH),
    _ignored(C, "attach_stderr", "-a stderr", _ATTACH),
    _applied(C, "exposed_ports", "--expose", "published_ports (-P)"),
    _applied(C, "env", "-e", "spec/builder _env"),
    *_applied_in("spec/builder args", C, "cmd COMMAND", "entrypoint --entrypoint"),
    _partial(C, "healthcheck", "--health-cmd", _healthcheck),
    _ignored(C, "args_escaped", "", "Windows only"),
    _applied(C, "image", "IMAGE", "engine: the image's rootfs and config"),
    _storage(C, "volumes", "-v"),
    _applied(C, "working_dir", "-w", "spec/builder _cwd"),
    _refused(C, "network_disabled", "API only"),
    _applied(C, "mac_address", "--mac-address", "service/network_attach: eth0's MAC"),
    _ignored(C, "on_build", "", _BUILD),
    _applied(C, "labels", "-l", "inspect, ps --filter label"),
    _applied(C, "stop_signal", "--stop-signal", "service/actions begin_stop"),
    _applied(C, "stop_timeout", "--stop-timeout", "signals.stop_timeout: stop, restart"),
    _ignored(C, "shell", "", _BUILD),
    *_part_of(HealthConfig, "Healthcheck", "test", "interval", "timeout", "start_period",
              "start_interval", "retries"),
    *_storage_all(H, "binds -v", "volumes_from --volumes-from", "readonly_rootfs --read-only",
                  "tmpfs --tmpfs", "mounts --mount"),
    _applied(H, "volume_driver", "--volume-driver", "domain/mounts _check_volume_driver"),
    _ignored(H, "container_id_file", "--cidfile", "the client writes the file"),
    _applied(H, "log_config", "--log-driver", "log_config: refuses what it does not apply"),
    _applied(H, "network_mode", "--network", "service/networking connect"),
    *_applied_in("published ports: service/networking _publish", H, "port_bindings -p",
                 "publish_all_ports -P"),
    _applied(H, "restart_policy", "--restart", "container/restart"),
    _applied(H, "auto_remove", "--rm", "service/reactions"),
    *_applied_in("spec/builder effective_capabilities", H, "cap_add --cap-add",
                 "cap_drop --cap-drop"),
    _applied(H, "privileged", "--privileged", "spec/builder: capabilities, host devices"),
    *_applied_in("spec/builder _namespaces", H, "cgroupns_mode --cgroupns", "uts_mode --uts"),
    *_applied_in("network_files resolv.conf and hosts", H, "dns --dns",
                 "dns_options --dns-option", "dns_search --dns-search",
                 "extra_hosts --add-host"),
    _applied(H, "group_add", "--group-add", "spec/users additional gids"),
    _partial(H, "ipc_mode", "--ipc", _ipc_mode),
    _applied(H, "pid_mode", "--pid", "spec/builder _namespaces: host, container:X"),
    _partial(H, "userns_mode", "--userns", _not_in("", "host")),
    _refused(H, "cgroup", "API only", "another container's cgroup"),
    _applied(H, "links", "--link", "service/network_links: variables and hosts at start"),
    _applied(H, "oom_score_adj", "--oom-score-adj", "spec/builder process.oomScoreAdj"),
    _partial(H, "security_opt", "--security-opt", _security_opt),
    _applied(H, "sysctls", "--sysctl", "spec/builder linux.sysctl"),
    _applied(H, "shm_size", "--shm-size", "spec/builder _mounts /dev/shm"),
    _applied(H, "runtime", "--runtime", "engine create: domain/runtimes RuntimeNames"),
    _applied(H, "console_size", "-t", "spec/builder process.consoleSize"),
    *_applied_in("spec/builder _resources", H, "cpu_shares --cpu-shares", "memory -m",
                 "nano_cpus --cpus", "blkio_weight --blkio-weight", "cpu_period --cpu-period",
                 "cpu_quota --cpu-quota", "cpu_realtime_period --cpu-rt-period",
                 "cpu_realtime_runtime --cpu-rt-runtime", "cpuset_cpus --cpuset-cpus",
                 "cpuset_mems --cpuset-mems", "memory_reservation --memory-reservation",
                 "memory_swap --memory-swap", "memory_swappiness --memory-swappiness",
                 "oom_kill_disable --oom-kill-disable", "pids_limit --pids-limit"),
    _applied(H, "cgroup_parent", "--cgroup-parent", "spec/builder cgroups_path"),
    _applied(H, "ulimits", "--ulimit", "spec/builder _rlimits"),
    _applied(H, "devices", "--device", "spec/builder linux.devices and its cgroup rules"),
    _applied(H, "device_cgroup_rules", "--device-cgroup-rule", "spec/builder cgroup rules"),
    *_refused_all(H, "storage_opt --storage-opt", "device_requests --gpus",
                  "blkio_weight_device --blkio-weight-device",
                  "blkio_device_read_bps --device-read-bps",
                  "blkio_device_write_bps --device-write-bps",
                  "blkio_device_read_iops --device-read-iops",
                  "blkio_device_write_iops --device-write-iops", "kernel_memory_tcp API only"),
    Setting(H, "kernel_memory", "--kernel-memory", Support.PARTIAL, refuses=_kernel_memory),
    _ignored(H, "cpu_count", "--cpu-count", "Windows only"),
    _ignored(H, "cpu_percent", "--cpu-percent", "Windows only: a warning, and discarded"),
    *(Setting(o, a, f, Support.DOCKERD_REFUSES, "settings _check_request") for o, a, f in
      _rows(H, ("isolation --isolation", "io_maximum_iops --io-maxiops",
                "io_maximum_bandwidth --io-maxbandwidth"))),
    *_applied_in("spec/builder maskedPaths, readonlyPaths", H,
                 "masked_paths --security-opt systempaths=unconfined",
                 "readonly_paths --security-opt systempaths=unconfined"),
    _applied(H, "init", "--init", "spec/builder.py: tini bound at /sbin/docker-init as PID 1"),
    _applied(H, "annotations", "--annotation", "spec/builder annotations"),
    *_applied_in("container/restart", RestartPolicy, "name --restart",
                 "maximum_retry_count --restart"),
    *_applied_in("log_config", LogConfig, "type --log-driver", "config --log-opt"),
    *_applied_in("published_ports", PortBinding, "host_ip -p", "host_port -p"),
    *_applied_in("spec/builder _rlimits", Ulimit, "name --ulimit", "soft --ulimit",
                 "hard --ulimit"),
    *(_storage(Mount, f.name, "--mount") for f in dataclasses.fields(Mount)),
    *(_storage(BindOptions, f.name, "--mount") for f in dataclasses.fields(BindOptions)),
    *_part_of(DeviceMapping, "Devices", "path_on_host", "path_in_container",
              "cgroup_permissions"),
    *_part_of(DeviceRequest, "DeviceRequests", "driver", "count", "device_ids",
              "capabilities", "options"),
    *_part_of(WeightDevice, "BlkioWeightDevice", "path", "weight"),
    *_part_of(ThrottleDevice, "BlkioDevice*", "path", "rate"),
    # The endpoint of the container's one network at create (dockerd 20.10 takes one;
    # settings _check_request); others come by `network connect`.
    _applied(NetworkingConfig, "endpoints_config", "--network", "its fields, below"),
    _applied(E, "ipam_config", "--ip", "service/network_attach: --ip, --ip6, --link-local-ip"),
    *_applied_in("service/network_attach _attach_network", E,
                 "aliases --network-alias", "mac_address --mac-address"),
    _applied(E, "links", "--link", "the name server: names of this container only"),
    _ignored(E, "driver_opts", "--driver-opt", "dockerd 20.10's bridge driver only keeps them"),
    _refused(E, "gw_priority", "--gw-priority", NETWORKS),
    *(_ignored(E, attr, "", _OPERATIONAL) for attr in (
        "network_id", "endpoint_id", "gateway", "ip_address", "ip_prefix_len",
        "ipv6_gateway", "global_ipv6_address", "global_ipv6_prefix_len", "dns_names")),
    *_part_of(EndpointIPAMConfig, "IPAMConfig", "ipv4_address", "ipv6_address",
              "link_local_ips"),
)  # fmt: skip
del C, H, E


def unsupported_message(field: str, flag: str, verdict: Verdict = True) -> str:
    message = f"{field} ({flag}) is not supported by berth yet"
    return f"{message}: {verdict}" if isinstance(verdict, str) else message


def refuse_unapplied_security(options: SecurityOptions) -> None:
    """The table's refusal of SecurityOpt, for a container recorded before it refused."""
    verdict = options.unapplied()
    if verdict:
        (entry,) = (s for s in SETTINGS if s.owner is HostConfig and s.attr == "security_opt")
        raise InvalidParameter(unsupported_message(entry.field, entry.flag, verdict))


def _values(
    setting: Setting, config: Config, host: HostConfig, networking: NetworkingConfig
) -> Iterator[Any]:
    if setting.owner is Config:
        yield getattr(config, setting.attr)
    elif setting.owner is HostConfig:
        yield getattr(host, setting.attr)
    elif setting.owner is EndpointSettings:
        for endpoint in (networking.endpoints_config or {}).values():
            if endpoint is not None:
                yield getattr(endpoint, setting.attr)


def refuse_unapplied(
    config: Config, host: HostConfig, networking: NetworkingConfig | None = None
) -> None:
    """InvalidParameter naming the first setting, in the table's order, that berth would
    not carry out."""
    networking = networking or NetworkingConfig()
    for setting in SETTINGS:
        if setting.refuses is None:
            continue
        for value in _values(setting, config, host, networking):
            verdict = setting.refuses(value)
            if verdict:
                raise InvalidParameter(unsupported_message(setting.field, setting.flag, verdict))
