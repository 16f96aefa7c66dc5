"""HostConfig.LogConfig: what berth's one log driver applies, and what it refuses (ADR 0017).

berth keeps each container's output in a local file written by conmon, read back by
`logs` and `attach`: Docker's default `json-file` driver in what it does (the file's
format is conmon's k8s-file). It applies `max-size` as json-file does with `max-file` 1
(Docker's default): when the next write would pass the size, the file starts again empty.
Every other option Docker's json-file knows is refused with a 400 naming it, unless it
asks for what berth does anyway; options and drivers Docker does not know get Docker's
own messages, in the order dockerd checks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .config_host import LogConfig
from .errors import InvalidParameter

#: The driver's names: Docker's, and podman's for what is on disk.
DRIVERS = ("json-file", "k8s-file")
_JSON_FILE_OPTIONS = frozenset(
    {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
)
_NOT_APPLIED = frozenset({"labels", "labels-regex", "env", "env-regex", "tag"})
_BUILT_IN = frozenset({"mode", "max-buffer-size"})  # dockerd's, for every driver
_SIZE = re.compile(r"(\d+(\.\d+)*) ?([kmgtp])?i?b?", re.ASCII | re.IGNORECASE)  # go-units
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = range(-(1 << 63), 1 << 63)
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def verify_log_config(log_config: LogConfig) -> None:
    """Refuse a LogConfig berth would not carry out, with Docker's message where Docker
    refuses it too (`logger.ValidateLogOpts`, then the json-file driver's `New`)."""
    driver = log_config.type or DRIVERS[0]
    options: Mapping[str, str] = log_config.config or {}
    mode = options.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options and mode != "non-blocking":
        raise InvalidParameter(
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        )
    if driver not in DRIVERS:
        raise InvalidParameter(f"logger: no log driver named '{driver}' is registered")
    for key in sorted(options):
        if key not in _JSON_FILE_OPTIONS and key not in _BUILT_IN:
            raise InvalidParameter(f"unknown log opt '{key}' for {driver} log driver")
    if mode == "non-blocking":
        raise InvalidParameter(
            "log opt 'mode=non-blocking' is not supported by berth: conmon writes every "
            "line as it comes (mode=blocking)"
        )
    refused = sorted(_NOT_APPLIED & options.keys())
    if refused:
        raise InvalidParameter(
            f"log opt '{refused[0]}' is not supported by berth's {driver} log driver"
        )
    size = _max_size(options)
    files = _max_file(options)
    if _go_bool(options.get("compress", "false")) and (files == 1 or size is None):
        raise InvalidParameter(
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        )


def log_size_max(log_config: LogConfig) -> int | None:
    """The size in bytes the container's log may reach before it starts again empty, or
    None for no limit. Lenient: a container recorded before the options were checked
    starts with what can be applied."""
    try:
        return _max_size(log_config.config or {})
    except InvalidParameter:
        return None


def from_human_size(text: str) -> float:
    """go-units `FromHumanSize`: decimal units (k is 1000), optional `i`/`b`, fractions."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidParameter(f"invalid size: '{text}'")
    try:
        size = float(match.group(1))
    except ValueError:
        raise InvalidParameter(
            f'strconv.ParseFloat: parsing "{match.group(1)}": invalid syntax'
        ) from None
    return size * _DECIMAL.get((match.group(3) or "").lower(), 1)


def _max_size(options: Mapping[str, str]) -> int | None:
    if "max-size" not in options:
        return None
    size = from_human_size(options["max-size"])
    # Go truncates to int64, and a float beyond it becomes negative on amd64
    if not 1 <= size < 1 << 63:
        raise InvalidParameter("max-size must be a positive number")
    return int(size)


def _max_file(options: Mapping[str, str]) -> int:
    text = options.get("max-file")
    if text is None:
        return 1
    if not _GO_INT.fullmatch(text):
        raise InvalidParameter(f'strconv.Atoi: parsing "{text}": invalid syntax')
    files = int(text)
    if files not in _INT64:
        raise InvalidParameter(f'strconv.Atoi: parsing "{text}": value out of range')
    if files < 1:
        raise InvalidParameter("max-file cannot be less than 1")
    if files > 1:
        raise InvalidParameter(
            f"log opt 'max-file={text}' is not supported by berth: it keeps one log file "
            "per container (max-file=1)"
        )
    return files


def _go_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f'strconv.ParseBool: parsing "{text}": invalid syntax')
