"""The fixed parts of a container's OCI spec: moby's defaults, as data."""

from __future__ import annotations

from typing import Any

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
NOFILE_CEILING = 1048576
CPU_PERIOD = 100_000
# moby daemon/oci_linux.go inContainerInitPath: where --init's binary is bound.
INIT_PATH = "/sbin/docker-init"

# moby daemon/pkg/oci/caps/defaults.go (and containerd's defaultUnixCaps).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

# moby daemon/pkg/oci/defaults.go.
MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
# Per-CPU thermal_throttle directories are masked by moby too (GHSA-jq35-85cj-fj4p); their
# names depend on the host's CPU count, which the caller passes as `HostFacts.cpus`.
THERMAL_THROTTLE = "/sys/devices/system/cpu/cpu{n}/thermal_throttle"

#: A `--device` mapping's cgroup permissions when it names none, as the docker CLI's.
DEFAULT_DEVICE_ACCESS = "rwm"

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


def _char(major: int, minor: int | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": "c", "major": major, "access": "rwm"}
    if minor is not None:
        rule["minor"] = minor
    return rule


# Deny everything, then allow the standard character devices (moby's defaults plus the
# pty devices runc itself allows): null, zero, full, random, urandom, tty, console, ptmx,
# and every /dev/pts/N (major 136, any minor).
DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    _char(1, 3),  # null
    _char(1, 5),  # zero
    _char(1, 7),  # full
    _char(1, 8),  # random
    _char(1, 9),  # urandom
    _char(5, 0),  # tty
    _char(5, 1),  # console
    _char(5, 2),  # ptmx
    _char(136, None),  # pts/*
)
PRIVILEGED_DEVICE_RULES: tuple[dict[str, Any], ...] = ({"allow": True, "access": "rwm"},)
