"""What the CLI prints of the engine's answers: docker's tables, sizes and "ago"
durations, and berth's history and audit tables (drawn by rich, made on first use: most
commands never print through it, and `berth -H ... run` must not import it)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ...views.timefmt import human_duration

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

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


def human_size(size: float, binary: bool = False) -> str:
    """docker's units.HumanSize: decimal units, three significant digits; `binary`:
    units.BytesSize, binary units and four digits."""
    units = (
        ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] if binary else ["B", "kB", "MB", "GB", "TB", "PB"]
    )
    base = 1024 if binary else 1000
    unit = 0
    while size >= base and unit < len(units) - 1:
        size /= base
        unit += 1
    return f"{size:.4g}{units[unit]}" if binary else f"{size:.3g}{units[unit]}"


def ports(entry: dict[str, Any]) -> str:
    shown = []
    for port in entry.get("Ports") or []:
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            shown.append(f"{port.get('IP') or '0.0.0.0'}:{port['PublicPort']}->{private}")
        else:
            shown.append(private)
    return ", ".join(shown)


PS_HEADERS = ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")


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
    headers: tuple[str, ...] = PS_HEADERS
    if any("Host" in entry for entry in entries):  # `ps --fleet`
        rows = [
            [str(entry.get("Host") or ""), *row] for entry, row in zip(entries, rows, strict=True)
        ]
        headers = ("HOST", *headers)
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


class LazyConsole:
    """rich's Console, made on first use."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # Piped output (scripts, `make run`) gets full-width lines, not rich's 80 columns.
            self._console = Console(
                highlight=False,
                markup=False,
                soft_wrap=True,
                width=None if sys.stdout.isatty() else 250,
            )
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self.made().print(*objects, **options)


console = LazyConsole()


def rich_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    from rich.table import Table

    drawn = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        drawn.add_column(header)
    for row in rows:
        drawn.add_row(*row)
    return drawn


def actor_text(actor: dict[str, Any]) -> str:
    text = str(actor["kind"])
    if actor.get("uid") is not None:
        text += f" uid={actor['uid']}"
    if actor.get("pid") is not None:
        text += f" pid={actor['pid']}"
    if actor.get("command"):
        text += f" ({actor['command']})"
    return text


def details_text(entry: dict[str, Any]) -> str:
    parts = [f"{k}: {v['before']} → {v['after']}" for k, v in entry["changes"].items()]
    parts += [f"{k}={v}" for k, v in entry["details"].items()]
    return "; ".join(parts)


def history_table(entries: Sequence[dict[str, Any]]) -> Table:
    """`berth history`: POSITION, TIME, ACTION, ACTOR, DETAILS (before → after)."""
    rows = (
        [
            str(entry["position"]),
            entry["time"],
            entry["action"],
            actor_text(entry["actor"]),
            details_text(entry),
        ]
        for entry in entries
    )
    return rich_table(("POSITION", "TIME", "ACTION", "ACTOR", "DETAILS"), rows)


def audit_table(entries: Sequence[dict[str, Any]]) -> Table:
    """`berth audit`: POSITION, TIME, ACTOR, ACTION, TYPE, NAME, ID, DETAILS."""
    rows = (
        [
            str(entry["position"]),
            entry["time"],
            actor_text(entry["actor"]),
            entry["action"],
            entry["type"],
            entry["name"].lstrip("/"),
            entry["id"].removeprefix("sha256:")[:12],
            " ".join(f"{k}={v}" for k, v in entry["details"].items()),
        ]
        for entry in entries
    )
    headers = ("POSITION", "TIME", "ACTOR", "ACTION", "TYPE", "NAME", "ID", "DETAILS")
    return rich_table(headers, rows)
