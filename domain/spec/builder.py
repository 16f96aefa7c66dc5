"""`build_spec`: the OCI runtime-spec 1.0.2 `config.json` runc gets for one container.

Pure: everything about the host (rlimit hard limits, cgroup layout, architecture, kernel,
the capabilities berthd itself holds) is passed in as `HostFacts`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import Config, HostConfig
from ..errors import InvalidParameter
from ..seccomp_profile import profile_to_oci
from ..security_opts import parse_security_opts, seccomp_on
from ..settings_rules import (
    ALL_CAPABILITIES,
    CAPABILITIES,
    device_cgroup_rule,
    normalize_capabilities,
)
from ..settings_support import refuse_unapplied_security
from . import defaults as d
from .mounts import rootfs_propagation, with_defaults
from .seccomp import load_default_profile, to_oci
from .users import ResolvedUser


@dataclass(frozen=True)
class HostFacts:
    """What the builder must know about the machine; the runtime measures it."""

    # Hard limits of berthd's own rlimits, e.g. {"RLIMIT_NOFILE": 20000}: without
    # CAP_SYS_RESOURCE no rlimit may be set above them.
    rlimit_hard: Mapping[str, int] = field(default_factory=dict)
    # runc's cgroupfs driver takes a path; the container's cgroup is <parent>/<id>.
    cgroup_parent: str = "/berth"
    cgroup_v2: bool = True
    swap_limit: bool = True  # memory.memsw / memory.swap.max exists
    arch: str = "amd64"  # Go's GOARCH names, as the seccomp profile uses them
    kernel: tuple[int, int] | None = None
    cpus: int = 0  # for moby's per-CPU thermal_throttle masks
    # Capabilities berthd holds (its bounding set); privileged containers get these.
    capabilities: frozenset[str] | None = None
    # The host's device nodes as OCI `linux.devices` entries; privileged containers get
    # these too (measured only for them).
    devices: Sequence[Mapping[str, Any]] = ()
    # The container's `--device` mappings found on the host: `linux.devices` entries at
    # their path in the container, each with the "access" its cgroup rule allows ("" for
    # the default).
    mapped_devices: Sequence[Mapping[str, Any]] = ()
    # The host's init for --init (tini, a static build: it runs in any image's root);
    # "" where there is none, and then --init cannot start.
    init_binary: str = ""
    # `--pid container:X`: the running donor's process id (0: none).
    pid_donor: int = 0


def effective_capabilities(host: HostConfig, host_caps: frozenset[str] | None = None) -> list[str]:
    """moby `caps.TweakCapabilities`: defaults, then CapAdd/CapDrop; ALL on either side.

    Within what the engine holds (`host_caps`, its bounding set; None: every capability):
    privileged and ALL get exactly that, as dockerd; a default it lacks is left out; a
    capability named in CapAdd that it lacks is refused, naming it (ADR/0020).
    """
    held = CAPABILITIES if host_caps is None else CAPABILITIES & host_caps
    every = sorted(held)
    if host.privileged:
        return every
    adds = normalize_capabilities(host.cap_add or (), "CapAdd")
    drops = normalize_capabilities(host.cap_drop or (), "CapDrop")
    for cap in adds:
        if cap != ALL_CAPABILITIES and cap not in held and cap not in drops:
            raise InvalidParameter(
                f"cannot add capability {cap}: berthd's own bounding set lacks it"
            )
    if ALL_CAPABILITIES in adds:
        base = list(every)
    elif ALL_CAPABILITIES in drops:
        base = []
    else:
        base = [c for c in d.DEFAULT_CAPABILITIES if c not in drops and c in held]
    for cap in adds:
        if cap != ALL_CAPABILITIES and cap not in base and cap not in drops:
            base.append(cap)
    if ALL_CAPABILITIES in adds:
        base = [c for c in base if c not in drops]
    return base


def _env(config: Config, image_env: Sequence[str], hostname: str) -> list[str]:
    """Docker's CreateDaemonEnvironment: PATH, HOSTNAME (TERM with a tty), then the image
    env and the container's env replacing or appending by name."""
    defaults = [f"PATH={d.DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if config.tty:
        defaults.append("TERM=xterm")
    # By name, in the order each name first came: a later entry replaces an earlier one
    # in its place. A dict keeps this linear in the number of entries.
    by_name: dict[str, str] = {}
    for entry in [*defaults, *image_env, *(config.env or ())]:
        by_name[entry.partition("=")[0]] = entry
    return list(by_name.values())


def _cwd(working_dir: str) -> str:
    if not working_dir:
        return "/"
    if not posixpath.isabs(working_dir):
        raise InvalidParameter(
            f"the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )
    cleaned = posixpath.normpath(working_dir)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if cleaned == "/proc/self/fd" or cleaned.startswith(("/proc/self/fd/", "/proc/thread-self")):
        raise InvalidParameter(f"the working directory '{working_dir}' is invalid")
    return cleaned


def _rlimits(host: HostConfig, facts: HostFacts) -> list[dict[str, Any]]:
    limits: dict[str, tuple[int, int]] = {"RLIMIT_NOFILE": (d.NOFILE_CEILING, d.NOFILE_CEILING)}
    for ulimit in host.ulimits or ():
        limits["RLIMIT_" + ulimit.name.upper()] = (ulimit.soft, ulimit.hard)
    out = []
    for name, (soft, hard) in limits.items():
        cap = facts.rlimit_hard.get(name)
        if cap is not None and cap >= 0:
            hard = min(hard, cap)
            soft = min(soft, hard)
        out.append({"type": name, "hard": hard, "soft": soft})
    return out


def _mounts(host: HostConfig, facts: HostFacts) -> list[dict[str, Any]]:
    shm = host.shm_size or d.DEFAULT_SHM_SIZE
    ro = [] if host.privileged else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", *ro]},
        # Type "cgroup": runc mounts cgroup2 on a unified host and the v1 hierarchies
        # (each bound to the container's own cgroup) on a legacy or hybrid one.
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *ro]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        _shm_mount(host, shm),
    ]  # fmt: skip


def _shm_mount(host: HostConfig, size: int) -> dict[str, Any]:
    """As moby: the host's IPC namespace comes with the host's /dev/shm (POSIX shared
    memory is files there); any other mode gets a tmpfs of its own."""
    if host.ipc_mode == "host":
        return {
            "destination": "/dev/shm",
            "type": "bind",
            "source": "/dev/shm",
            "options": ["rbind", "rprivate"],
        }
    return {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={size}"],
    }


def _host_uts(host: HostConfig) -> bool:
    """`--uts host` only: with the host's network a container still has a UTS namespace
    of its own (dockerd 20.10's too), holding the host's name (engine create), so that a
    container that may set its hostname never sets the host's."""
    return host.uts_mode == "host"


def _namespaces(host: HostConfig, facts: HostFacts, netns_path: str | None) -> list[dict[str, str]]:
    spaces: list[dict[str, str]] = [{"type": "mount"}]
    if facts.pid_donor:
        spaces.append({"type": "pid", "path": f"/proc/{facts.pid_donor}/ns/pid"})
    elif host.pid_mode.startswith("container:"):
        raise InvalidParameter(f"PID mode {host.pid_mode}: the donor's process is required")
    elif host.pid_mode != "host":
        spaces.append({"type": "pid"})
    if host.ipc_mode != "host":
        spaces.append({"type": "ipc"})
    if not _host_uts(host):
        spaces.append({"type": "uts"})
    mode = host.network_mode
    if mode != "host":
        if netns_path is not None:
            spaces.append({"type": "network", "path": netns_path})
        elif mode.startswith("container:"):
            raise InvalidParameter(f"network mode {mode}: the namespace path is required")
        else:
            spaces.append({"type": "network"})
    if host.cgroupns_mode == "private" or (host.cgroupns_mode == "" and facts.cgroup_v2):
        spaces.append({"type": "cgroup"})
    return spaces


def _resources(host: HostConfig, facts: HostFacts) -> dict[str, Any]:
    res: dict[str, Any] = {
        "devices": list(d.PRIVILEGED_DEVICE_RULES if host.privileged else d.DEVICE_RULES)
    }
    memory: dict[str, Any] = {}
    if host.memory > 0:
        memory["limit"] = host.memory
    if host.memory_swap != 0 and facts.swap_limit:
        memory["swap"] = host.memory_swap
    if host.memory_reservation > 0:
        memory["reservation"] = host.memory_reservation
    if host.memory_swappiness is not None and host.memory_swappiness >= 0:
        memory["swappiness"] = host.memory_swappiness
    if host.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        res["memory"] = memory
    cpu: dict[str, Any] = {}
    if host.cpu_shares > 0:
        cpu["shares"] = host.cpu_shares
    if host.nano_cpus > 0:
        cpu["period"] = d.CPU_PERIOD
        cpu["quota"] = host.nano_cpus * d.CPU_PERIOD // 1_000_000_000
    else:
        if host.cpu_period > 0:
            cpu["period"] = host.cpu_period
        if host.cpu_quota != 0:
            cpu["quota"] = host.cpu_quota
    if host.cpu_realtime_period > 0:
        cpu["realtimePeriod"] = host.cpu_realtime_period
    if host.cpu_realtime_runtime > 0:
        cpu["realtimeRuntime"] = host.cpu_realtime_runtime
    if host.cpuset_cpus:
        cpu["cpus"] = host.cpuset_cpus
    if host.cpuset_mems:
        cpu["mems"] = host.cpuset_mems
    if cpu:
        res["cpu"] = cpu
    if host.pids_limit is not None and host.pids_limit != 0:
        res["pids"] = {"limit": host.pids_limit if host.pids_limit > 0 else -1}
    if host.blkio_weight > 0:
        res["blockIO"] = {"weight": host.blkio_weight}
    return res


def _init_mounts(host: HostConfig, facts: HostFacts) -> list[dict[str, Any]]:
    """moby's WithInit: with `Init` (berthd's own default is off) the host's init binary
    is bound read-only at /sbin/docker-init and runs as PID 1 in front of the command
    (`docker-init -- CMD...`): it reaps orphaned zombies and forwards signals."""
    if not host.init:
        return []
    if not facts.init_binary:
        raise InvalidParameter(
            'failed to find docker-init: exec: "docker-init": executable file not found in $PATH'
        )
    return [
        {
            "destination": d.INIT_PATH,
            "type": "bind",
            "source": facts.init_binary,
            "options": ["bind", "ro"],
        }
    ]


def live_resources(host: HostConfig, facts: HostFacts) -> dict[str, Any]:
    """The `linux.resources` a running container's cgroup takes from `docker update`:
    the start's, but its device rules (which no update changes)."""
    return {k: v for k, v in _resources(host, facts).items() if k != "devices"}


def cgroups_path(container_id: str, host: HostConfig, facts: HostFacts) -> str:
    """`<parent>/<id>` for runc's cgroupfs driver; CgroupParent overrides the default."""
    parent = host.cgroup_parent or facts.cgroup_parent
    return posixpath.join("/", parent.strip("/"), container_id)


def build_spec(
    *,
    container_id: str,
    config: Config,
    host_config: HostConfig,
    rootfs: str,
    hostname: str,
    user: ResolvedUser,
    image_env: Sequence[str] = (),
    facts: HostFacts | None = None,
    netns_path: str | None = None,
    extra_mounts: Sequence[Mapping[str, Any]] = (),
    seccomp_profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `config.json` for `runc create/run` of this container.

    `config` is the merged Config, `host_config` the adapted HostConfig; `seccomp_profile`
    is berth's profile data (`load_default_profile()` when None). `extra_mounts` are the
    container's own (spec/mounts.py `container_mounts`, destinations resolved in the
    root): they go after the defaults and replace those at the same destination.
    """
    facts = facts or HostFacts()
    host = host_config
    args = [*(config.entrypoint or ()), *(config.cmd or ())]
    if not args:
        raise InvalidParameter("no command specified")
    init_mounts = _init_mounts(host, facts)
    if init_mounts:
        args = [d.INIT_PATH, "--", *args]
    caps = effective_capabilities(host, facts.capabilities)
    security = parse_security_opts(host.security_opt or ())
    # Create refuses these; a container recorded before it did must not start without them.
    refuse_unapplied_security(security)

    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": user.to_oci(),
        "args": args,
        "env": _env(config, image_env, hostname),
        "cwd": _cwd(config.working_dir),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": _rlimits(host, facts),
        "noNewPrivileges": security.no_new_privileges,
    }
    if host.oom_score_adj:
        process["oomScoreAdj"] = host.oom_score_adj
    height, width = host.console_size
    if config.tty and height and width:
        # The size the client's window has, set before the process starts (docker run -t).
        process["consoleSize"] = {"height": height, "width": width}

    linux: dict[str, Any] = {
        "namespaces": _namespaces(host, facts, netns_path),
        "resources": _resources(host, facts),
        "cgroupsPath": cgroups_path(container_id, host, facts),
    }
    devices = [dict(device) for device in facts.devices] if host.privileged else []
    for mapped in facts.mapped_devices:  # as moby's WithDevices, privileged or not
        devices.append({k: v for k, v in mapped.items() if k != "access"})
        if not host.privileged:
            rule = {k: mapped[k] for k in ("type", "major", "minor")}
            access = mapped["access"] or d.DEFAULT_DEVICE_ACCESS
            linux["resources"]["devices"].append(rule | {"allow": True, "access": access})
    if not host.privileged:  # a privileged container is allowed every device already
        linux["resources"]["devices"] += map(device_cgroup_rule, host.device_cgroup_rules or ())
    if devices:
        linux["devices"] = devices
    sysctl = dict(host.sysctls)
    if host.network_mode != "host" and not host.network_mode.startswith("container:"):
        # As moby's WithSysctls, in a network namespace of its own: ICMP echo sockets
        # without CAP_NET_RAW, and ports below 1024 without CAP_NET_BIND_SERVICE (a
        # user's own value stays).
        sysctl.setdefault("net.ipv4.ping_group_range", "0 2147483647")
        sysctl.setdefault("net.ipv4.ip_unprivileged_port_start", "0")
    if config.domainname:
        # As moby's setLinuxDomainname: the sysctl has setdomainname(2)'s effect (and
        # runc refuses it, as with dockerd, in the host's UTS namespace).
        sysctl["kernel.domainname"] = config.domainname
    if sysctl:
        linux["sysctl"] = sysctl
    if not host.privileged:
        masked = [*d.MASKED_PATHS]
        masked += [d.THERMAL_THROTTLE.format(n=n) for n in range(facts.cpus)]
        if host.masked_paths is not None:
            masked = list(host.masked_paths)
        linux["maskedPaths"] = masked
        linux["readonlyPaths"] = (
            list(d.READONLY_PATHS) if host.readonly_paths is None else list(host.readonly_paths)
        )
        if security.custom_seccomp:
            custom = profile_to_oci(security.custom_seccomp, caps, facts.arch, facts.kernel)
            if custom is not None:
                linux["seccomp"] = custom
        elif seccomp_on(security):
            profile = seccomp_profile if seccomp_profile is not None else load_default_profile()
            linux["seccomp"] = to_oci(profile, caps, facts.arch, facts.kernel)

    spec: dict[str, Any] = {
        "ociVersion": d.OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": host.readonly_rootfs},
        "mounts": [
            *with_defaults(_mounts(host, facts), extra_mounts, host.readonly_rootfs),
            *init_mounts,
        ],
        "linux": linux,
    }
    propagation = rootfs_propagation(extra_mounts)
    if propagation:
        linux["rootfsPropagation"] = propagation
    if not _host_uts(host):
        spec["hostname"] = hostname
    if host.annotations:
        spec["annotations"] = dict(host.annotations)
    return spec
