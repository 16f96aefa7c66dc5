"""What the dashboard may show: the one place that decides it (ADR/0018).

The dashboard is a loopback TCP port without authentication: any local user reads it,
where the API's socket (0660 root) admits root alone. So it shows what the lifecycle is
(states and counts, names, images, event types and times, exit codes, who acted by kind,
uid and pid) and nothing a container was configured with or an actor typed: no
environment, command, arguments, labels, mounts or command lines. Each is an allow-list,
so a field added to an event or to the inspect document stays hidden until it is listed.
"""

from __future__ import annotations

from typing import Any

from berth.domain.cause import Actor

# Scalar event fields a reader may see; any other field of an event is left out.
EVENT_FIELDS = frozenset(
    {
        *("name", "old_name", "new_name", "image", "image_id", "reference"),
        *("manifest_digest", "size", "deleted", "force", "container_id"),
        *("pid", "started_at", "finished_at", "exit_code", "oom_killed"),
        *("signal", "timeout", "delay_ms", "restart_count"),
        *("network_id", "network_name", "driver", "subnet", "gateway", "address"),
    }
)
# The inspect document's fields a reader may see: a set lists a section's fields.
DOCUMENT_FIELDS: dict[str, bool | frozenset[str]] = {
    "Id": True,
    "Name": True,
    "Created": True,
    "Image": True,
    "RestartCount": True,
    "State": frozenset(
        {"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid"}
        | {"ExitCode", "StartedAt", "FinishedAt"}
    ),
    "Config": frozenset({"Image"}),
    "HostConfig": frozenset({"RestartPolicy", "AutoRemove", "NetworkMode"}),
}


def public_actor(actor: object) -> dict[str, Any] | None:
    """Who acted, by kind, uid and pid; never the command line."""
    if not isinstance(actor, Actor):
        return None
    return {"kind": actor.kind.value, "uid": actor.uid, "pid": actor.pid}


def public_details(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of an event a reader may see."""
    return {key: value for key, value in data.items() if key in EVENT_FIELDS}


def public_document(document: dict[str, Any]) -> dict[str, Any]:
    """An inspect document cut down to its lifecycle."""
    shown: dict[str, Any] = {}
    for key, fields in DOCUMENT_FIELDS.items():
        if key not in document:
            continue
        value = document[key]
        if fields is True:
            shown[key] = value
        elif isinstance(value, dict) and isinstance(fields, frozenset):
            shown[key] = {name: value[name] for name in sorted(fields) if name in value}
    return shown


def public_listing(row: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A container in the list, from its view row and its `docker ps` entry; not its
    command, which is configuration."""
    return {
        "id": row["id"],
        "name": row["name"].lstrip("/"),
        "image": entry["Image"],
        "state": row["state"],
        "status": entry["Status"],
        "created": row["doc"]["Created"],
        "version": row["version"],
    }
