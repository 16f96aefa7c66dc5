"""`docker top`: dockerd runs the host's `ps` and keeps the rows of the container's pids.

dockerd (20.10, daemon/top_unix.go) runs `ps` with the caller's arguments (`-ef` when
none), splits its output on ASCII whitespace, finds the `PID` column, and keeps each row
whose pid is in the container; a thread row (`-` in the PID column, with `ps -m`) follows
the process before it. The last title takes the rest of a row (a command with spaces).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from .errors import BerthError, InvalidParameter

DEFAULT_PS_ARGS = "-ef"
# A `-o pid=PID...` would rename the PID column that rows are matched by.
_RENAMED_PID = re.compile(r"[ \t\n\v\f\r]+([^ \t\n\v\f\r]*)=[ \t\n\v\f\r]*(PID[^ \t\n\v\f\r]*)")
_ASCII_SPACE = re.compile(r"[ \t\n\v\f\r]+")


class PsOutputError(BerthError):
    """The output of `ps` could not be read (dockerd's 500)."""

    http_status = 500


def ps_arguments(ps_args: str | None) -> list[str]:
    """The arguments dockerd gives `ps`: split on single spaces, as Go's strings.Split."""
    text = ps_args or DEFAULT_PS_ARGS
    for key, value in _RENAMED_PID.findall(text):
        if key != "pid":
            raise InvalidParameter(f'specifying "{key}={value}" is not allowed')
    return text.split(" ")


def _fields(line: str) -> list[str]:
    return [f for f in _ASCII_SPACE.split(line) if f]


def parse_ps_output(output: str, pids: Collection[int]) -> dict[str, Any]:
    """Docker's `{"Titles": [...], "Processes": [[...], ...]}` for the container's `pids`."""
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise PsOutputError("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    processes: list[list[str]] = []
    previous_kept = False
    for line in lines[1:]:
        fields = _fields(line)
        if not fields:
            continue
        if len(fields) <= pid_index:
            raise PsOutputError(f"Unexpected ps output line {line!r}")
        if fields[pid_index] == "-":
            if previous_kept:
                processes.append(_row(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise PsOutputError(f"Unexpected pid '{fields[pid_index]}'") from None
        previous_kept = pid in pids
        if previous_kept:
            processes.append(_row(fields, len(titles)))
    return {"Titles": titles, "Processes": processes}


def _row(fields: list[str], columns: int) -> list[str]:
    return [*fields[: columns - 1], " ".join(fields[columns - 1 :])]
