"""Output shared by local and remote mode: docker's tables, sizes and "ago" durations.

Both modes produce the Docker Engine API's JSON shapes (the local engine's listings are
the API's), so one renderer serves both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ...views.timefmt import human_duration

# docker's tabwriter: minimum cell width 10, three spaces of padding.
MIN_WIDTH = 10
PADDING = 3
COMMAND_WIDTH = 20


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded as the docker CLI's tables (the last one is not padded)."""
    cells = [list(headers), *(list(row) for row in rows)]
    widths = [
        max(MIN_WIDTH, max(len(row[i]) for row in cells) + PADDING) for i in range(len(headers))
    ]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append(("".join(padded) + row[-1]).rstrip())
    return "\n".join(lines)


def ago(unix_seconds: float, now: float | None = None) -> str:
    return human_duration(max(0.0, (now or time.time()) - unix_seconds)) + " ago"


def human_size(size: float) -> str:
    """docker's units.HumanSize: decimal units, three significant digits."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    unit = 0
    while size >= 1000 and unit < len(units) - 1:
        size /= 1000
        unit += 1
    return f"{size:.3g}{units[unit]}"


def ports(entry: dict[str, Any]) -> str:
    shown = []
    for port in entry.get("Ports") or []:
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            shown.append(f"{port.get('IP') or '0.0.0.0'}:{port['PublicPort']}->{private}")
        else:
            shown.append(private)
    return ", ".join(shown)


def container_table(entries: Sequence[dict[str, Any]], no_trunc: bool = False) -> str:
    """`ps`: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES."""
    rows = []
    for entry in entries:
        command = entry.get("Command") or ""
        if not no_trunc and len(command) > COMMAND_WIDTH:
            command = command[: COMMAND_WIDTH - 1] + "…"
        rows.append(
            [
                entry["Id"] if no_trunc else entry["Id"][:12],
                entry.get("Image") or "",
                f'"{command}"',
                ago(entry.get("Created") or 0),
                entry.get("Status") or "",
                ports(entry),
                ",".join(n.lstrip("/") for n in entry.get("Names") or []),
            ]
        )
    headers = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
    return table(headers, rows)


def ps_output(
    entries: Sequence[dict[str, Any]], quiet: bool, no_trunc: bool, output: str
) -> list[str]:
    """What `ps` prints: JSON lines, ids, or the table."""
    if output in ("json", "{{json .}}"):
        return [json.dumps(entry) for entry in entries]
    if quiet:
        return [entry["Id"] if no_trunc else entry["Id"][:12] for entry in entries]
    return [container_table(entries, no_trunc)]


def image_table(entries: Sequence[dict[str, Any]], quiet: bool = False) -> str:
    """`images`: REPOSITORY, TAG, IMAGE ID, CREATED, SIZE."""
    rows = []
    for entry in entries:
        short = entry["Id"].removeprefix("sha256:")[:12]
        for tag in entry.get("RepoTags") or ["<none>:<none>"]:
            repository, _, name = tag.rpartition(":")
            rows.append(
                [repository, name, short, ago(entry.get("Created") or 0), human_size(entry["Size"])]
            )
    if quiet:
        return "\n".join(dict.fromkeys(row[2] for row in rows))
    return table(("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"), rows)
