"""Who caused an event, when, and as part of which request.

The domain never reads a clock or makes up ids: the runtime builds a `Cause` for each
request (the API's peer credentials, or the engine itself) and passes it to every command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ActorKind(StrEnum):
    """What kind of caller made a change; audit queries group by it."""

    API = "api"
    CLI = "cli"
    RESTART_POLICY = "restart-policy"
    RECONCILE = "reconcile"
    ENGINE = "engine"


@dataclass(frozen=True)
class Actor:
    """The caller: a process on the API socket, or the engine acting on its own."""

    kind: ActorKind
    uid: int | None = None
    pid: int | None = None
    command: str | None = None
    #: The fleet host whose engine recorded the change (ADR/0043); None on a lone host.
    host: str | None = None

    def to_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "kind": self.kind.value,
            "uid": self.uid,
            "pid": self.pid,
            "command": self.command,
        }
        if self.host is not None:  # a lone host's events stay as they were
            found["host"] = self.host
        return found

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Actor:
        uid, pid, command = data.get("uid"), data.get("pid"), data.get("command")
        host = data.get("host")
        return cls(
            kind=ActorKind(str(data["kind"])),
            uid=uid if isinstance(uid, int) else None,
            pid=pid if isinstance(pid, int) else None,
            command=command if isinstance(command, str) else None,
            host=host if isinstance(host, str) else None,
        )


@dataclass(frozen=True)
class Cause:
    """Time, actor and correlation id shared by every event one request causes."""

    at: datetime
    actor: Actor
    correlation_id: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
