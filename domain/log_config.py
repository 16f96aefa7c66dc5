"""HostConfig.LogConfig: the log drivers berth has, what they apply and what they refuse
(ADR 0017, ADR 0036).

berth keeps each container's output in local files written by conmon, read back by `logs`
and `attach` (the files' format is conmon's k8s-file whatever the driver's name):
Docker's `json-file` (the default; `k8s-file` is podman's name for it) and `local` keep
`max-file` files of at most `max-size` bytes each, rotating; `none` keeps nothing and
`logs` cannot read it. Options Docker's drivers know but berth does not apply are refused
with a 400 naming them; options and drivers Docker does not know get Docker's own
messages, in the order dockerd checks them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from .config_host import LogConfig
from .errors import InvalidParameter, NotSupported

_T = TypeVar("_T")

#: The drivers' names: Docker's default, podman's for what is on disk, and Docker's others.
DRIVERS = ("json-file", "k8s-file", "local", "none")
NONE = "none"
LOCAL = "local"
_JSON_FILE_OPTIONS = frozenset(
    {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
)
_LOCAL_OPTIONS = frozenset({"max-file", "max-size", "compress"})
# dockerd's local driver: 20 MiB (binary, unlike the option's values), 5 files.
_LOCAL_MAX_SIZE = 20 * 1024 * 1024
_LOCAL_MAX_FILE = 5
_NOT_APPLIED = frozenset({"labels", "labels-regex", "env", "env-regex", "tag"})
_BUILT_IN = frozenset({"mode", "max-buffer-size"})  # dockerd's, for every driver
_SIZE = re.compile(r"(\d+(\.\d+)*) ?([kmgtp])?i?b?", re.ASCII | re.IGNORECASE)  # go-units
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = range(-(1 << 63), 1 << 63)
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class LogPolicy:
    """What the driver keeps: with `kept`, files of at most `max_size` bytes (None: no
    limit), `max_file` of them (the one written and `max_file - 1` rotated ones)."""

    kept: bool = True
    max_size: int | None = None
    max_file: int = 1


def verify_log_config(log_config: LogConfig) -> None:
    """Refuse a LogConfig berth would not carry out, with Docker's message where Docker
    refuses it too (`logger.ValidateLogOpts`, then the driver's `New`)."""
    driver = log_config.type or DRIVERS[0]
    options: Mapping[str, str] = log_config.config or {}
    if driver == NONE:
        return  # dockerd checks nothing for it: it keeps nothing
    mode = options.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options and mode != "non-blocking":
        raise InvalidParameter(
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
        )
    if driver not in DRIVERS:
        raise InvalidParameter(f"logger: no log driver named '{driver}' is registered")
    known = _LOCAL_OPTIONS if driver == LOCAL else _JSON_FILE_OPTIONS
    for key in sorted(options):
        if key not in known and key not in _BUILT_IN:
            raise InvalidParameter(
                f"unknown log opt '{key}' for log driver {driver}"
                if driver == LOCAL
                else f"unknown log opt '{key}' for {driver} log driver"
            )
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
    try:  # the driver's `New`, which dockerd calls at the start
        _local_policy(options) if driver == LOCAL else _json_file_policy(options)
    except InvalidParameter as error:
        raise InvalidParameter(f"failed to initialize logging driver: {error.message}") from None


def log_policy(log_config: LogConfig) -> LogPolicy:
    """What the container's driver keeps. Lenient: a container recorded before the
    options were checked starts with what can be applied."""
    driver = log_config.type or DRIVERS[0]
    if driver == NONE:
        return LogPolicy(kept=False)
    options = log_config.config or {}
    try:
        return _local_policy(options) if driver == LOCAL else _json_file_policy(options)
    except InvalidParameter:
        return LogPolicy()


def check_readable(log_config: LogConfig) -> None:
    """`logs` of a container whose driver keeps nothing: dockerd's answer."""
    if not log_policy(log_config).kept:
        raise NotSupported("configured logging driver does not support reading")


def log_size_max(log_config: LogConfig) -> int | None:
    """The size in bytes the container's log file may reach, or None for no limit."""
    return log_policy(log_config).max_size


def _json_file_policy(options: Mapping[str, str]) -> LogPolicy:
    """json-file's `New`: its values, checked in its order."""
    size = _max_size(options)
    files = _max_file(options)
    if _go_bool(options.get("compress", "false")):
        if files == 1 or size is None:
            raise InvalidParameter(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
        raise _compress_refused()
    return LogPolicy(max_size=size, max_file=files)


def _local_policy(options: Mapping[str, str]) -> LogPolicy:
    """local's `New` and `validateConfig`: its values, its defaults, its messages."""
    size = _parsed(
        options, "max-size", from_human_size, float(_LOCAL_MAX_SIZE), "invalid value for"
    )
    files = _parsed(options, "max-file", _go_atoi, _LOCAL_MAX_FILE, "invalid value for")
    # local's default is to compress: a request that leaves it unset is not refused.
    compress = _parsed(options, "compress", _go_bool, True, "error reading compress log option")
    if size < 0:
        raise InvalidParameter("max size should be a positive number")
    if files < 0:
        raise InvalidParameter("max file count cannot be less than 0")
    if compress and files <= 1:
        raise InvalidParameter("compression cannot be enabled when max file count is 1")
    if "compress" in options and compress:
        raise _compress_refused()
    return LogPolicy(max_size=int(size) if size >= 1 else None, max_file=max(files, 1))


def _parsed(
    options: Mapping[str, str], key: str, parse: Callable[[str], _T], default: _T, context: str
) -> _T:
    """`options[key]` parsed, or `default`; a parse error in local's words: `context`
    (with the option and its value when it says "invalid value for"), then the error."""
    if key not in options:
        return default
    try:
        return parse(options[key])
    except InvalidParameter as error:
        if context.endswith(" for"):
            context = f"{context} {key}: {options[key]}"
        raise InvalidParameter(f"{context}: {error.message}") from None


def _compress_refused() -> InvalidParameter:
    return InvalidParameter(
        "log opt 'compress=true' is not supported by berth: rotated log files are kept uncompressed"
    )


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
    files = _go_atoi(text)
    if files < 1:
        raise InvalidParameter("max-file cannot be less than 1")
    return files


def _go_atoi(text: str) -> int:
    """strconv.Atoi."""
    if not _GO_INT.fullmatch(text):
        raise InvalidParameter(f'strconv.Atoi: parsing "{text}": invalid syntax')
    number = int(text)
    if number not in _INT64:
        raise InvalidParameter(f'strconv.Atoi: parsing "{text}": value out of range')
    return number


def _go_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f'strconv.ParseBool: parsing "{text}": invalid syntax')
