"""Docker's small validators: capabilities, ports, extra hosts, DNS, mounts, binds.

Each one copies the dockerd function named in its docstring, message included, and
raises InvalidParameter; `settings.verify_settings` strings them together.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config_host import BindOptions, Mount
from .errors import InvalidParameter

MIN_HEALTH_DURATION = 1_000_000  # 1ms in nanoseconds, containertypes.MinimumDuration
MIN_MEMORY = 6 * 1024 * 1024  # dockerd's linuxMinMemory: room for a container's own start-up

# Every Linux capability up to 5.9 (CAP_CHECKPOINT_RESTORE), as moby's caps package knows them.
_CAPABILITY_NAMES = """
CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO
SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE
"""
# In the kernel's bit order: bit n of a capability mask (CapBnd, CapEff...) is the n-th.
CAPABILITY_BITS: tuple[str, ...] = tuple("CAP_" + name for name in _CAPABILITY_NAMES.split())
CAPABILITIES: frozenset[str] = frozenset(CAPABILITY_BITS)
ALL_CAPABILITIES = "ALL"

_DIGITS = re.compile(r"[0-9]+")
_GO_ATOI = re.compile(r"[+-]?[0-9]+")

_RW_MODES = frozenset({"rw", "ro"})
_LABEL_MODES = frozenset({"z", "Z"})
PROPAGATION_MODES = frozenset({"private", "rprivate", "slave", "rslave", "shared", "rshared"})
_COPY_MODES = frozenset({"nocopy"})
_CONSISTENCY_MODES = frozenset({"consistent", "cached", "delegated"})
_MODE_GROUPS = (_RW_MODES, _LABEL_MODES, PROPAGATION_MODES, _COPY_MODES, _CONSISTENCY_MODES)
_TMPFS_OPTIONS = frozenset({"exec", "noexec"})
HOST_GATEWAY = "host-gateway"


def go_quote(text: str) -> str:
    """Go's `%q` for the strings these messages quote."""
    return json.dumps(text, ensure_ascii=False)


def normalize_capabilities(caps: Iterable[str], field_name: str) -> list[str]:
    """`caps.NormalizeLegacyCapabilities`: upper-cased, `CAP_`-prefixed, `ALL` kept as is."""
    out: list[str] = []
    for cap in caps:
        upper = cap.upper()
        if upper == ALL_CAPABILITIES:
            out.append(upper)
            continue
        if not upper.startswith("CAP_"):
            upper = "CAP_" + upper
        if upper not in CAPABILITIES:
            raise InvalidParameter(f"invalid {field_name}: unknown capability: {go_quote(upper)}")
        out.append(upper)
    return out


def capabilities_in_mask(mask: int) -> frozenset[str]:
    """The capabilities whose bits are set in a mask of /proc/PID/status (e.g. CapBnd)."""
    return frozenset(name for bit, name in enumerate(CAPABILITY_BITS) if mask >> bit & 1)


def validate_env(entry: str) -> None:
    """`opts.ValidateEnv`: the name before the first `=` must not be empty."""
    if entry.partition("=")[0] == "":
        raise InvalidParameter(f"invalid environment variable: {entry}")


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat `SplitProtoPort`: `80/udp` -> (`udp`, `80`); the protocol defaults to tcp."""
    parts = raw.split("/")
    if raw == "" or parts[0] == "":
        return "", ""
    if len(parts) == 1 or parts[1] == "":
        return "tcp", parts[0]
    return parts[1], parts[0]


def validate_port_key(key: str) -> None:
    """A container port such as `80/tcp`: 1-65535 over tcp, udp or sctp."""
    proto, port = split_proto_port(key)
    if (
        not _DIGITS.fullmatch(port)
        or not 0 < int(port) < 65536
        or proto.lower() not in ("tcp", "udp", "sctp")
    ):
        raise InvalidParameter(f"invalid port specification: {go_quote(port or key)}")


def validate_host_port(host_port: str) -> None:
    """nat `NewPort(SplitProtoPort(HostPort))`: empty, a port, or an ascending range."""
    _, port = split_proto_port(host_port)
    if port == "":
        return
    start, dash, end = port.partition("-")
    ok = _DIGITS.fullmatch(start) is not None and int(start) < 65536
    if dash:
        ok = ok and _DIGITS.fullmatch(end) is not None and int(start) <= int(end) < 65536
    if not ok:
        raise InvalidParameter(f"invalid port specification: {go_quote(host_port)}")


def split_extra_host(entry: str) -> tuple[str, str]:
    """`name=ip` or `name:ip` (split at the first `:`, so the ip may be IPv6) → (name, ip);
    an ip in brackets loses them. ("", "") when there is no separator."""
    name, sep, address = entry.partition("=")
    if not sep:
        name, sep, address = entry.partition(":")
    if not sep:
        return "", ""
    if len(address) > 2 and address[0] == "[" and address[-1] == "]":
        address = address[1:-1]
    return name, address


def validate_extra_host(entry: str) -> None:
    """`opts.ValidateExtraHost`: `name:ip` or `name=ip`, ip may be `host-gateway`."""
    name, address = split_extra_host(entry)
    if name == "" or ":" in name:
        raise InvalidParameter(f"bad format for add-host: {go_quote(entry)}")
    if address == HOST_GATEWAY:
        return
    if not is_ip_address(address.strip()):
        raise InvalidParameter(f"invalid IP address in add-host: {go_quote(address)}")


def is_ip_address(text: str) -> bool:
    # Go's net.ParseIP knows no IPv6 zones, Python's parser does.
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_uint_list(value: str) -> set[int]:
    """`parsers.ParseUintList` (cpuset syntax `0-2,4`)."""
    if value == "":
        return set()
    invalid = f"invalid format: {value}"
    out: set[int] = set()
    for part in value.split(","):
        if "-" not in part:
            if not _GO_ATOI.fullmatch(part):
                raise InvalidParameter(invalid)
            out.add(int(part))
            continue
        low, _, high = part.partition("-")
        if not _GO_ATOI.fullmatch(low) or not _GO_ATOI.fullmatch(high) or int(high) < int(low):
            raise InvalidParameter(invalid)
        out.update(range(int(low), int(high) + 1))
    return out


def go_clean(path: str) -> str:
    # Go's path.Clean collapses a leading `//`, posixpath.normpath keeps it.
    return posixpath.normpath(re.sub("/+", "/", path))


def _validate_not_root(path: str) -> str | None:
    if go_clean(path.replace("\\", "/")) == "/":
        return "invalid specification: destination can't be '/'"
    return None


def _validate_absolute(path: str) -> str | None:
    path = path.replace("\\", "/")
    if path.startswith("/"):
        return None
    return f"invalid mount path: '{path}' mount path must be absolute"


def validate_tmpfs_destination(dest: str) -> None:
    """linux_parser `ValidateTmpfsMountDestination`."""
    error = _validate_not_root(dest) or _validate_absolute(dest)
    if error:
        raise InvalidParameter(error)


def _is_local(path: str) -> bool:
    """Go's `filepath.IsLocal`: relative and not escaping its directory."""
    if path == "" or path.startswith("/"):
        return False
    cleaned = go_clean(path)
    return cleaned != ".." and not cleaned.startswith("../")


def _tmpfs_options_error(options: Mapping[str, Any]) -> str | None:
    raw = options.get("Options")
    if not isinstance(raw, list):
        return None
    for opt in raw:
        if not isinstance(opt, list) or not 1 <= len(opt) <= 2:
            return "invalid option array length"
        if opt[0] not in _TMPFS_OPTIONS:
            return f"invalid option: {opt[0]}"
    return None


def _extra_field(mount: Mount, allowed: set[str]) -> str | None:
    present = {
        "BindOptions": mount.bind_options is not None,
        "VolumeOptions": mount.volume_options is not None,
        "ImageOptions": mount.image_options is not None,
        "TmpfsOptions": mount.tmpfs_options is not None,
    }
    for name, is_set in present.items():
        if is_set and name not in allowed:
            return f"field {name} must not be specified"
    return None


def mount_error(mount: Mount) -> str | None:
    """linux_parser `validateMountConfigImpl`, without the bind-source existence check.

    Whether a bind source exists is a question about the host, left to the adapter.
    """
    reason = _mount_reason(mount)
    if reason is None:
        return None
    return f"invalid mount config for type {go_quote(mount.type)}: {reason}"


def _mount_reason(mount: Mount) -> str | None:
    if mount.target == "":
        return "field Target must not be empty"
    reason = _validate_not_root(mount.target) or _validate_absolute(mount.target)
    if reason:
        return reason
    if mount.type == "bind":
        if mount.source == "":
            return "field Source must not be empty"
        propagation = mount.bind_options.propagation if mount.bind_options else ""
        if propagation and propagation not in PROPAGATION_MODES:
            return f"invalid propagation mode: {propagation}"
        return _extra_field(mount, {"BindOptions"}) or _validate_absolute(mount.source)
    if mount.type == "volume":
        reason = _extra_field(mount, {"VolumeOptions"})
        subpath = (mount.volume_options or {}).get("Subpath")
        if reason is None and isinstance(subpath, str) and subpath:
            if mount.source == "":
                return "must not set Subpath when using anonymous volumes"
            if not _is_local(subpath):
                return "subpath must be a relative path within the volume"
        return reason
    if mount.type == "tmpfs":
        reason = _extra_field(mount, {"TmpfsOptions"})
        if reason is None and mount.source != "":
            reason = "field Source must not be specified"
        if reason is None and mount.tmpfs_options is not None:
            reason = _tmpfs_options_error(mount.tmpfs_options)
        return reason
    if mount.type == "image":
        reason = _extra_field(mount, {"ImageOptions"})
        if reason is None and mount.source == "":
            reason = "field Source must not be empty"
        return reason
    return "mount type unknown"


@dataclass(frozen=True)
class BindSpec:
    """A `HostConfig.Binds` entry, parsed: a host path (bind) or a named/anonymous volume."""

    source: str
    target: str
    mode: str
    type: str
    read_only: bool
    propagation: str


def valid_mount_mode(mode: str) -> bool:
    """linux_parser `linuxValidMountMode`: known options, at most one of each kind."""
    if mode == "":
        return True
    counts = [0] * len(_MODE_GROUPS)
    for option in mode.split(","):
        for index, group in enumerate(_MODE_GROUPS):
            if option in group:
                counts[index] += 1
                break
        else:
            return False
    return max(counts) <= 1


def parse_bind(raw: str) -> BindSpec:
    """linux_parser `ParseMountRaw` for one `src:dst[:mode]` string."""
    invalid_spec = f"invalid volume specification: '{raw}'"
    parts = raw.split(":", 3)
    if parts[0] == "":
        raise InvalidParameter(invalid_spec)
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if valid_mount_mode(parts[1]):
            # `/foo:rw` is a destination with a mode, which a volume cannot have.
            raise InvalidParameter(invalid_spec)
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise InvalidParameter(invalid_spec)
    if not valid_mount_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    options: Sequence[str] = mode.split(",") if mode else ()
    propagation = next((o for o in options if o in PROPAGATION_MODES), "")
    kind = "bind" if source.startswith("/") else "volume"
    mount = Mount(
        type=kind,
        source=source,
        target=target,
        read_only="ro" in options,
        bind_options=BindOptions(propagation=propagation) if propagation else None,
        volume_options={"NoCopy": True} if "nocopy" in options else None,
    )
    error = mount_error(mount)
    if error:
        raise InvalidParameter(f"{invalid_spec}: {error}")
    return BindSpec(source, target, mode, kind, "ro" in options, propagation)


_DEVICE_CGROUP_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def device_cgroup_rule(rule: str) -> dict[str, Any]:
    """One `--device-cgroup-rule` as the cgroup's device rule it allows (moby's
    WithDevices, message included); a `*` number is left out, the OCI spec's "all"."""
    found = _DEVICE_CGROUP_RULE.match(rule)
    if found is None:
        raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
    kind, major, minor, access = found.groups()
    allowed: dict[str, Any] = {"allow": True, "type": kind}
    if major != "*":
        allowed["major"] = int(major)
    if minor != "*":
        allowed["minor"] = int(minor)
    return allowed | {"access": access}


def validate_device_mapping(on_host: str, in_container: str, permissions: str) -> None:
    """A `--device` mapping the runtime could carry out: absolute paths, and cgroup
    permissions of r, w and m, each once (the docker CLI's ValidateDevice rules)."""
    if not on_host.startswith("/"):
        raise InvalidParameter(f"bad format for path: {on_host}")
    if in_container and not in_container.startswith("/"):
        raise InvalidParameter(f"bad format for path: {in_container}")
    if permissions and (set(permissions) - set("rwm") or len(set(permissions)) < len(permissions)):
        raise InvalidParameter(f"bad mode specified: {permissions}")
