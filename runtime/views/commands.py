"""`berth audit --format commands`: the requests users made, as Docker Engine API calls.

Each state-changing request by a user (an API or CLI actor; never the engine, reconcile or
a restart policy) becomes one JSON line with the method, the path with its query, the
body, and the original container id, so `berth replay` can re-issue it against any berthd
after mapping container ids. Container paths use the original ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from berth.domain.container import default_hostname

USER_ACTORS = ("api", "cli")

CONTAINER_REQUESTS = (
    "Created",
    "StartRequested",
    "StopRequested",
    "KillRequested",
    "Paused",
    "Unpaused",
    "RestartRequested",
    "Renamed",
    "Updated",
    "RemovalRequested",
)
IMAGE_REQUESTS = ("Pulled", "Tagged", "Untagged", "Deleted")
REQUEST_ACTIONS = CONTAINER_REQUESTS + IMAGE_REQUESTS

# Reads an event's data by log position: a Created's configs, an Updated's fields (the
# audit view keeps no objects).
CreatedData = Callable[[int], dict[str, Any]]


def _query(**params: Any) -> str:
    return "?" + urlencode(params) if params else ""


def _container_request(entry: dict[str, Any], created: CreatedData) -> tuple[str, str, Any]:
    cid = entry["id"]
    shown = entry["details"]
    base = f"/containers/{cid}"
    match entry["action"]:
        case "Created":
            return (
                "POST",
                "/containers/create" + _query(name=entry["name"].lstrip("/")),
                (create_body(cid, created(entry["position"]))),
            )
        case "StartRequested":
            return "POST", f"{base}/start", None
        case "StopRequested":
            return "POST", f"{base}/stop" + _query(t=shown["timeout"]), None
        case "KillRequested":
            return "POST", f"{base}/kill" + _query(signal=shown["signal"]), None
        case "Paused":
            return "POST", f"{base}/pause", None
        case "Unpaused":
            return "POST", f"{base}/unpause", None
        case "RestartRequested":
            return "POST", f"{base}/restart" + _query(t=shown["timeout"]), None
        case "Renamed":
            return "POST", f"{base}/rename" + _query(name=shown["new_name"].lstrip("/")), None
        case "Updated":
            return "POST", f"{base}/update", created(entry["position"])["host_config"]
        case "RemovalRequested":
            return "DELETE", base + _query(force="true" if shown["force"] else "false"), None
    raise ValueError(f"not a request: {entry['action']}")


def create_body(container_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Docker's create body from a `Created` event: its Config, HostConfig and
    NetworkingConfig. The config is the merged one (image defaults included), which
    recreates the same container; a hostname berth derived from the id is left out so the
    new container derives its own."""
    body: dict[str, Any] = dict(data["config"])
    if body.get("Hostname") == default_hostname(container_id):
        body.pop("Hostname")
    body["HostConfig"] = data["host_config"]
    if data.get("networking_config"):
        body["NetworkingConfig"] = data["networking_config"]
    return body


def _pull_path(reference: str) -> str:
    if "@" in reference:
        repository, _, tag = reference.partition("@")
    else:
        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = reference, "latest"
    return "/images/create" + _query(fromImage=repository, tag=tag)


def _tag_path(source: str, reference: str) -> str:
    """`POST /images/{source}/tag`: source is a tag the image had, or else its id."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = reference, "latest"
    return f"/images/{quote(source, safe=':/@')}/tag" + _query(repo=repository, tag=tag)


def _image_removal(group: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The DELETE requests behind one request's Untagged/Deleted events."""
    untagged = [e for e in group if e["action"] == "Untagged"]
    deleted = [e for e in group if e["action"] == "Deleted"]
    if not deleted:
        return [(e, f"/images/{quote(e['details']['reference'], safe=':@/')}") for e in untagged]
    if len(untagged) == 1:
        reference = untagged[0]["details"]["reference"]
        return [(group[0], f"/images/{quote(reference, safe=':@/')}")]
    image_id = quote(deleted[0]["id"], safe=":")
    return [(group[0], f"/images/{image_id}" + (_query(force="true") if untagged else ""))]


def export(entries: list[dict[str, Any]], created: CreatedData) -> Iterator[dict[str, Any]]:
    """Command lines for audit entries (oldest first); non-requests are skipped."""
    pending_removal: list[dict[str, Any]] = []
    # The tags each image had so far: a tag request names its source by one of them, as
    # the image id differs between daemons that loaded the same tarball.
    known_tags: dict[str, list[str]] = {}

    def flush() -> Iterator[dict[str, Any]]:
        for first, path in _image_removal(pending_removal):
            yield _line(first, "DELETE", path, None, None)
        pending_removal.clear()

    for entry in entries:
        source = _source_reference(entry, known_tags)
        if entry["actor"]["kind"] not in USER_ACTORS or entry["action"] not in REQUEST_ACTIONS:
            continue
        if pending_removal and entry["correlation_id"] != pending_removal[0]["correlation_id"]:
            yield from flush()
        if entry["type"] == "container":
            method, path, body = _container_request(entry, created)
            yield _line(entry, method, path, body, entry["id"])
        elif entry["action"] in ("Untagged", "Deleted"):
            pending_removal.append(entry)
        elif entry["action"] == "Pulled":
            yield _line(entry, "POST", _pull_path(entry["details"]["reference"]), None, None)
        elif entry["action"] == "Tagged":
            path = _tag_path(source or entry["id"], entry["details"]["reference"])
            yield _line(entry, "POST", path, None, None)
    yield from flush()


def _source_reference(entry: dict[str, Any], known_tags: dict[str, list[str]]) -> str | None:
    """A tag the image had before `entry` (None if none), and follow the entry's change."""
    if entry["type"] != "image":
        return None
    tags = known_tags.setdefault(entry["id"], [])
    before = tags[0] if tags else None
    details = entry["details"]
    action = entry["action"]
    if action in ("Pulled", "Loaded", "Reloaded"):
        for tag in [*details.get("repo_tags", []), details.get("reference")]:
            if isinstance(tag, str) and tag and "@" not in tag and tag not in tags:
                tags.append(tag)
    elif action == "Tagged" and details.get("reference") not in tags:
        tags.append(details["reference"])
    elif action == "Untagged" and details.get("reference") in tags:
        tags.remove(details["reference"])
    elif action == "Deleted":
        tags.clear()
    return before


def _line(
    entry: dict[str, Any], method: str, path: str, body: Any, container: str | None
) -> dict[str, Any]:
    return {
        "position": entry["position"],
        "time": entry["time"],
        "actor": entry["actor"],
        "method": method,
        "path": path,
        "body": body,
        "container": container,
    }
