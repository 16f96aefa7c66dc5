"""Signals as Docker names them: the one parser for `kill -s`, `StopSignal` and the runtime.

moby/sys/signal's `ParseSignal` (a number, or a name with or without `SIG`, any case)
followed by `ValidSignalForPlatform` (the number must be one Linux has), so that a signal
the runtime could not send is refused before anything is recorded.
"""

from __future__ import annotations

import re

from .errors import InvalidParameter

# Linux x86-64 signal numbers, as in moby/sys/signal's SignalMap.
SIGNALS: dict[str, int] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31, "RTMIN": 34, "RTMAX": 64,
    **{f"RTMIN+{i}": 34 + i for i in range(1, 16)},
    **{f"RTMAX-{i}": 64 - i for i in range(1, 15)},
}  # fmt: skip
# One name per number, the first in SIGNALS' order (SIGABRT over SIGIOT, SIGCHLD over SIGCLD).
_NAMES: dict[int, str] = {}
for _name, _number in SIGNALS.items():
    _NAMES.setdefault(_number, "SIG" + _name)

DEFAULT_KILL_SIGNAL = "SIGKILL"
DEFAULT_STOP_SIGNAL = "SIGTERM"
DEFAULT_STOP_TIMEOUT = 10  # seconds: dockerd's defaultStopTimeout
_GO_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64 = range(-(2**63), 2**63)


def parse_signal(raw: str) -> int:
    """The signal's number; InvalidParameter with Docker's message for anything else."""
    if _GO_ATOI.fullmatch(raw) and int(raw) in _INT64:  # Go's Atoi
        number = int(raw)
        if number == 0:
            raise InvalidParameter(f"Invalid signal: {raw}")
        if number not in _NAMES:
            raise InvalidParameter(f"The linux daemon does not support signal {number}")
        return number
    upper = raw.upper()
    name = upper[3:] if upper.startswith("SIG") else upper
    if name not in SIGNALS:
        raise InvalidParameter(f"Invalid signal: {raw}")
    return SIGNALS[name]


def stop_signal(configured: object) -> str:
    """The signal `stop` sends first: the container's `StopSignal`, else SIGTERM."""
    return str(configured or "") or DEFAULT_STOP_SIGNAL


def stop_timeout(requested: int | None, configured: object) -> int:
    """The seconds stop and restart wait for the exit before SIGKILL: the request's `t`,
    else the container's StopTimeout (0 included: kill at once), else dockerd's 10."""
    if requested is not None:
        return requested
    return DEFAULT_STOP_TIMEOUT if configured is None else int(str(configured))


def signal_name(raw: str) -> str:
    """The canonical name of a valid signal (`9`, `kill`, `SIGKILL` → `SIGKILL`)."""
    return _NAMES[parse_signal(raw)]
