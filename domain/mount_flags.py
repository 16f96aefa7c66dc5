"""The docker CLI's storage flags, read as it reads them into a create request.

`-v` (docker/cli internal/volumespec: a spec with a source is a bind or a named volume
in `HostConfig.Binds`, one without is an anonymous volume in `Config.Volumes`),
`--mount` (opts/mount.go: a CSV of key=value options into `HostConfig.Mounts` objects,
with the CLI's checks and messages) and `--tmpfs` (`/path[:options]` into
`HostConfig.Tmpfs`). Relative host paths starting with "." are made absolute against
the caller's working directory, which is passed in: nothing here reads the disk.
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Iterable
from typing import Any

from .errors import InvalidParameter

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
_FLAGS = ("readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src")
_RECURSIVE = {
    "enabled": None,
    "disabled": "NonRecursive",
    "writable": "ReadOnlyNonRecursive",
    "readonly": "ReadOnlyForceRecursive",
}
# The options that belong to one mount type each, and the object they fill.
_TYPE_OPTIONS = (
    ("bind", "BindOptions", "bind-*"),
    ("volume", "VolumeOptions", "volume-*"),
    ("image", "ImageOptions", "image-*"),
    ("tmpfs", "TmpfsOptions", "tmpfs-*"),
)
_RAM = re.compile(r"(\d+(?:\.\d+)*) ?([kmgtp])?i?b?", re.IGNORECASE)  # go-units RAMInBytes
_RAM_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """go-units `RAMInBytes`: "64m", "1.5g", "512KiB", plain bytes (binary units)."""
    found = _RAM.fullmatch(text)
    try:
        number = float(found.group(1)) if found else None
    except ValueError:  # "1.2.3" passes the pattern, as in go-units, and fails here
        number = None
    if found is None or number is None:
        raise InvalidParameter(f"invalid size: '{text}'")
    unit = found.group(2)
    return int(number * _RAM_UNITS[unit.lower() if unit else None])


def _absolute(path: str, cwd: str) -> str:
    """Go's filepath.Abs for a path the docker CLI resolves (one starting with ".")."""
    if posixpath.isabs(path) or not path.startswith("."):
        return path
    return posixpath.normpath(posixpath.join(cwd, path))


def _volume_fields(spec: str) -> list[str]:
    """volumespec.Parse's split at colons (a lone drive letter keeps its colon)."""
    if not spec:
        raise InvalidParameter("invalid empty volume spec")
    if len(spec) <= 2:
        return [spec]
    fields: list[str] = []
    buffer = ""
    for char in spec + "\0":
        if char == ":" and len(buffer) == 1 and buffer.isalpha():
            buffer += char
        elif char in (":", "\0"):
            if not buffer:
                raise InvalidParameter(f"invalid spec: {spec}: empty section between colons")
            if len(fields) == 2 and char == ":":
                raise InvalidParameter(f"invalid spec: {spec}: too many colons")
            fields.append(buffer)
            buffer = ""
        else:
            buffer += char
    return fields


def _is_file_path(source: str) -> bool:
    if source[0] in "./~":
        return True
    return len(source) > 1 and (
        source.startswith("\\\\") or (source[1] == ":" and source[0].isalpha())
    )


def volume_flags(specs: Iterable[str], cwd: str) -> tuple[list[str], dict[str, Any]]:
    """`-v` values as (HostConfig.Binds, Config.Volumes), as the docker CLI splits them."""
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    for spec in specs:
        fields = _volume_fields(spec)
        if len(fields) == 1:  # no source: an anonymous volume
            volumes[spec] = {}
            continue
        source, _, rest = spec.partition(":")
        if _is_file_path(fields[0]):
            spec = f"{_absolute(source, cwd)}:{rest}"
        if spec not in binds:
            binds.append(spec)
    return binds, volumes


def tmpfs_flags(values: Iterable[str]) -> dict[str, str]:
    """`--tmpfs /path[:options]` as HostConfig.Tmpfs (the options are the daemon's to read)."""
    tmpfs: dict[str, str] = {}
    for value in values:
        path, _, options = value.partition(":")
        tmpfs[path] = options
    return tmpfs


def _bool(key: str, value: str | None) -> bool:
    """opts' parseBoolValue: only 1, true, 0, false; a bare key is true."""
    if value is None or value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise InvalidParameter(
        f"invalid value for '{key}': invalid boolean value (\"{value}\"): must be one of "
        '"true", "1", "false", or "0" (default "true")'
    )


def _key_value(text: str) -> tuple[str, str] | None:
    key, _, value = text.partition("=")
    return (key, value) if key else None


def _split_option(option: str) -> tuple[str, str | None]:
    key, found, value = option.partition("=")
    if key.strip() != key:
        raise InvalidParameter(
            f"invalid option '{key.strip()}' in '{option}': option should not have whitespace"
        )
    if found:
        if not value.strip():
            raise InvalidParameter(f"invalid value for '{key}': value is empty")
        if value.strip() != value:
            raise InvalidParameter(
                f"invalid value for '{key}' in '{option}': value should not have whitespace"
            )
    key = key.lower()
    if not found and key not in _FLAGS:
        raise InvalidParameter(f"invalid field '{option}' must be a key=value pair")
    return key, value if found else None


def parse_mount(text: str, cwd: str) -> dict[str, Any]:
    """One `--mount` value as the API's Mount object, or the docker CLI's error."""
    text = text.strip()
    if not text:
        raise InvalidParameter("value is empty")
    try:
        options = next(csv.reader([text], strict=True))
    except csv.Error as error:
        raise InvalidParameter(f"parse error on line 1: {error}") from None
    mount: dict[str, Any] = {"Type": "volume"}  # the CLI's default type
    kinds: dict[str, dict[str, Any]] = {}
    for option in options:
        key, value = _split_option(option)
        _set_option(mount, kinds, key, value, option)
    if "Source" in mount:
        mount["Source"] = _absolute(mount["Source"], cwd)
    kind = mount["Type"]
    for type_, name, prefix in _TYPE_OPTIONS:
        if name in kinds and kind != type_:
            raise InvalidParameter(f"cannot mix '{prefix}' options with mount type '{kind}'")
    _check_recursive(mount, kinds.get("BindOptions", {}))
    return _omit_empty({**mount, **kinds})


def _omit_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """Go's `omitempty` of the Mount structs: false, 0 and "" are left out; an options
    object the user asked for stays, even empty (a non-nil pointer)."""
    return {
        key: _omit_empty(value) if isinstance(value, dict) else value
        for key, value in obj.items()
        if isinstance(value, dict) or value not in (False, 0, "")
    }


def _set_option(
    mount: dict[str, Any],
    kinds: dict[str, dict[str, Any]],
    key: str,
    given: str | None,
    option: str,
) -> None:
    """opts/mount.go's switch, in its order: one branch per option."""
    value = given or ""

    def bind() -> dict[str, Any]:
        return kinds.setdefault("BindOptions", {})

    def volume() -> dict[str, Any]:
        return kinds.setdefault("VolumeOptions", {})

    def tmpfs() -> dict[str, Any]:
        return kinds.setdefault("TmpfsOptions", {})

    if key == "type":
        mount["Type"] = value.lower()
    elif key in ("source", "src"):
        mount["Source"] = value
    elif key in ("target", "dst", "destination"):
        mount["Target"] = value
    elif key in ("readonly", "ro"):
        mount["ReadOnly"] = _bool(key, given)
    elif key == "consistency":
        mount["Consistency"] = value.lower()
    elif key == "bind-propagation":
        bind()["Propagation"] = value.lower()
    elif key == "bind-nonrecursive":
        raise InvalidParameter(
            "bind-nonrecursive is deprecated, use bind-recursive=disabled instead"
        )
    elif key == "bind-recursive":
        if value not in _RECURSIVE:
            raise InvalidParameter(
                f'invalid value for {key}: {value} (must be "enabled", "disabled", '
                '"writable", or "readonly")'
            )
        field = _RECURSIVE[value]
        if field:
            bind()[field] = True
        else:
            bind()
    elif key == "bind-create-src":
        bind()["CreateMountpoint"] = _bool(key, given)
    elif key == "volume-subpath":
        volume()["Subpath"] = value
    elif key == "volume-nocopy":
        volume()["NoCopy"] = _bool(key, given)
    elif key == "volume-label":
        _add_to(volume(), "Labels", value)
    elif key == "volume-driver":
        volume().setdefault("DriverConfig", {})["Name"] = value
    elif key == "volume-opt":
        _add_to(volume().setdefault("DriverConfig", {}), "Options", value)
    elif key == "image-subpath":
        kinds.setdefault("ImageOptions", {})["Subpath"] = value
    elif key == "tmpfs-size":
        try:
            tmpfs()["SizeBytes"] = ram_in_bytes(value)
        except InvalidParameter:
            raise InvalidParameter(f"invalid value for {key}: {value}") from None
    elif key == "tmpfs-mode":
        if not re.fullmatch(r"[0-7]+", value) or int(value, 8) >= 1 << 32:
            raise InvalidParameter(f"invalid value for {key}: {value}")
        tmpfs()["Mode"] = int(value, 8)
    else:
        raise InvalidParameter(f"unknown option '{key}' in '{option}'")


def _add_to(target: dict[str, Any], name: str, text: str) -> None:
    pair = _key_value(text)
    if pair:
        target.setdefault(name, {})[pair[0]] = pair[1]


def _check_recursive(mount: dict[str, Any], bind: dict[str, Any]) -> None:
    readonly = mount.get("ReadOnly", False)
    if bind.get("ReadOnlyNonRecursive") and not readonly:
        raise InvalidParameter(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
        )
    if bind.get("ReadOnlyForceRecursive"):
        if not readonly:
            raise InvalidParameter(
                "option 'bind-recursive=readonly' requires 'readonly' to be specified in "
                "conjunction"
            )
        if bind.get("Propagation") != "rprivate":
            raise InvalidParameter(
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be "
                "specified in conjunction"
            )
