"""`berth replay FILE`: re-issue a recorded command log against a berthd.

FILE is JSON lines as `berth audit --format commands` writes them, one Docker Engine API
request each: {"position", "time", "actor", "method", "path", "body", "container"}. The
containers get new ids on the target daemon, so each original id (64 hex, in a path or in
"container") is mapped to the id the target's create answered. Every request is tried,
also after a failed one (a failure is reported and makes the exit code 1): a replay shows
all that does not carry over, not just the first thing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .http import DaemonClient, DaemonError

FULL_ID = re.compile(r"\b[0-9a-f]{64}\b")
API_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")  # the client adds its own
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD")


@dataclass
class Command:
    position: int
    method: str
    path: str
    body: Any
    container: str | None


class InvalidCommandLog(ValueError):
    """A line that is not a request as `berth audit --format commands` writes it."""


def read_commands(path: Path) -> Iterator[Command]:
    with path.open() as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                method, target = str(record["method"]).upper(), str(record["path"])
                container = record.get("container")
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise InvalidCommandLog(f"line {number}: not a command record ({error})") from None
            if method not in METHODS or not target.startswith("/"):
                raise InvalidCommandLog(f"line {number}: not a request: {method} {target}")
            if container is not None and not isinstance(container, str):
                raise InvalidCommandLog(f"line {number}: container must be an id or null")
            target = API_PREFIX.sub("", target)
            yield Command(
                int(record.get("position") or number), method, target, record.get("body"), container
            )


class Replay:
    """The id map, and each command mapped and sent (or only shown, in a dry run)."""

    def __init__(self, client: DaemonClient | None) -> None:
        self.client = client
        self.ids: dict[str, str] = {}

    def mapped(self, command: Command) -> str:
        return FULL_ID.sub(lambda found: self.ids.get(found.group(0), found.group(0)), command.path)

    def is_create(self, command: Command) -> bool:
        return command.method == "POST" and urlsplit(command.path).path.rstrip("/").endswith(
            "/containers/create"
        )

    def dry_run(self, command: Command) -> str:
        """What would be sent; a container created earlier in the log shows as `<new:#N>`."""
        if self.is_create(command) and command.container:
            self.ids[command.container] = f"<new:#{command.position}>"
        return f"#{command.position} {command.method} {self.mapped(command)}"

    def send(self, command: Command) -> tuple[str, bool]:
        """Send one command; the line to print and whether it succeeded."""
        assert self.client is not None
        target = self.mapped(command)
        split = urlsplit(target)
        shown = f"#{command.position} {command.method} {target}"
        try:
            response = self.client.request(
                command.method, split.path, dict(parse_qsl(split.query)), body=command.body
            )
            answers = _json_lines(response.read())
        except DaemonError as error:
            if error.status == 304:
                return f"{shown} -> 304 (nothing to do)", True
            return f"{shown} -> {error.status} {error.message}", False
        for answer in answers:
            if isinstance(answer, dict) and answer.get("error"):  # a pull fails in its stream
                return f"{shown} -> {response.status} {answer['error']}", False
        if self.is_create(command) and command.container and answers:
            new_id = str(answers[0]["Id"])
            self.ids[command.container] = new_id
            return f"{shown} -> {response.status} {new_id}", True
        return f"{shown} -> {response.status}", True


def _json_lines(data: bytes) -> list[Any]:
    answers = []
    for line in data.splitlines():
        try:
            answers.append(json.loads(line))
        except ValueError:
            continue
    return answers
