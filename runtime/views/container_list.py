"""`GET /containers/json` (`docker ps`): the container list with Docker's `all`, `limit`
and `filters`.

Each container's list entry is kept ready in the views (ADR/0049): folded with its row,
as the entry's JSON text without its `Status`, in two pieces around it, beside the few
values `Status` is made from ("Exited (0) 2 hours ago" changes with the clock, so it is
the one part made when listing). A list without filters is one query and a join of
texts; filters decode the entries they test.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from berth.domain.container import LISTED_WITHOUT_ALL, LIVE_STATES, ContainerState
from berth.domain.errors import BerthError, InvalidParameter, NotFound
from berth.domain.health import NO_HEALTHCHECK, health_filter_values, ps_suffix
from berth.domain.published_ports import list_ports

from . import container_filters
from .filters import label_matches, pattern_filter
from .timefmt import human_duration, parse_docker_time

LIST_FILTERS = (
    "status", "name", "id", "label", "ancestor", "exited", "before", "since", "volume",
    "health", "network", "is-task", "publish", "expose",
)  # fmt: skip
# container.IsValidStateString: a status filter naming no state is dockerd's 400.
STATUS_VALUES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
_EXITED = re.compile(r"Exited \((-?\d+)\)")
_HEALTH = re.compile(r"\((?:health: )?(starting|healthy|unhealthy)\)$")

#: The columns a view of containers keeps each one's entry in, after its berth state.
ENTRY_COLUMNS_SQL = (
    "entry_head TEXT NOT NULL, entry_tail TEXT NOT NULL, started REAL, finished REAL, "
    "exit_code INTEGER NOT NULL, health TEXT"
)
#: What a listing selects: (state, entry_head, entry_tail, started, finished, exit_code,
#: health), the host after them in the fleet's.
LISTED = "state, entry_head, entry_tail, started, finished, exit_code, health"
Listed = tuple[Any, ...]
EntryColumns = tuple[str, str, float | None, float | None, int, str | None]

# The berth states whose Docker status `docker ps` lists without `--all`.
_WITHOUT_ALL = frozenset(s.value for s in ContainerState if s.docker_status in LISTED_WITHOUT_ALL)
_LIVE = frozenset(s.value for s in LIVE_STATES)
_COMPACT = (",", ":")


def entry_columns(row: Mapping[str, Any]) -> EntryColumns:
    """What the views keep of a container's list entry (ENTRY_COLUMNS_SQL), from its row."""
    doc = row["doc"]
    status = doc["State"]
    created = parse_docker_time(doc["Created"])
    started = parse_docker_time(status["StartedAt"])
    finished = parse_docker_time(status["FinishedAt"])
    head = {
        "Id": doc["Id"],
        "Names": [doc["Name"]],
        "Image": doc["Config"].get("Image") or doc["Image"],
        "ImageID": doc["Image"],
        "Command": command_text(doc["Path"], doc["Args"]),
        "Created": int(created.timestamp()) if created else 0,
        "Ports": list_ports(doc["NetworkSettings"]["Ports"] or {}),
        "Labels": doc["Config"].get("Labels") or {},
        "State": status["Status"],
    }
    tail = {
        "HostConfig": {"NetworkMode": doc["HostConfig"].get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": doc["NetworkSettings"]["Networks"]},
        "Mounts": doc["Mounts"],
    }
    return (
        json.dumps(head, separators=_COMPACT)[:-1] + ',"Status":',
        "," + json.dumps(tail, separators=_COMPACT)[1:-1],  # the closing brace when listed
        started.timestamp() if started else None,
        finished.timestamp() if finished else None,
        int(status["ExitCode"]),
        (status.get("Health") or {}).get("Status"),
    )


def command_text(path: str, args: Sequence[str]) -> str:
    """The `Command` of a list entry: dockerd quotes an argument that holds a space."""
    return " ".join([path, *(f"'{a}'" if " " in a else a for a in args)]).strip()


def status_text(
    state: str,
    started: float | None,
    finished: float | None,
    exit_code: int,
    health: str | None,
    now: float,
) -> str:
    """The `Status` column of `docker ps`, e.g. "Up 5 minutes" or "Exited (0) 2 hours ago",
    of a container in berth's `state`."""
    if state in _LIVE:
        up = human_duration(now - started) if started is not None else "Less than a second"
        if state == ContainerState.PAUSED:
            return f"Up {up} (Paused)"
        return f"Up {up}" + ps_suffix(health)
    if state == ContainerState.RESTARTING:
        ago = human_duration(now - finished) if finished is not None else "Less than a second"
        return f"Restarting ({exit_code}) {ago} ago"
    if state in (ContainerState.REMOVING, ContainerState.REMOVED):
        return "Removal In Progress"
    if state == ContainerState.DEAD:
        return "Dead"
    if state == ContainerState.EXITED:
        if finished is None:
            return ""
        return f"Exited ({exit_code}) {human_duration(now - finished)} ago"
    return "Created"


def _entry_text(listed: Listed, now: float) -> str:
    """The entry's JSON text, but for its closing brace."""
    state, head, tail, started, finished, exit_code, health = listed[:7]
    status = json.dumps(status_text(state, started, finished, exit_code, health, now))
    return f"{head}{status}{tail}"


def listing_json(listed: Iterable[Listed], now: float) -> bytes:
    """The `/containers/json` body of these containers, as listed at `now`."""
    return ("[" + ",".join(_entry_text(each, now) + "}" for each in listed) + "]\n").encode()


def fleet_listing_json(listed: Iterable[Listed], now: float) -> bytes:
    """The body of `ps --fleet`: each entry with the "Host" that recorded it (listed last)."""
    return (
        "["
        + ",".join(f'{_entry_text(each, now)},"Host":{json.dumps(each[7])}}}' for each in listed)
        + "]\n"
    ).encode()


def entries(listed: Iterable[Listed], now: float) -> list[dict[str, Any]]:
    """The entries themselves, for filters to test."""
    return [json.loads(_entry_text(each, now) + "}") for each in listed]


def entries_json(chosen: list[dict[str, Any]]) -> bytes:
    return (json.dumps(chosen, separators=_COMPACT) + "\n").encode()


def list_entry(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The `/containers/json` entry of one container row."""
    return entries([(row["state"], *entry_columns(row))], now.timestamp())[0]


def listed_states(
    all_: bool, limit: int | None, filters: Mapping[str, Sequence[str]]
) -> frozenset[str] | None:
    """The berth states of the containers `docker ps` lists, None for every state: without
    `all` (nor a limit above 0, nor a filter on states), the live ones only. docker-py
    sends `limit=-1` for no limit, which lists the live ones (moby's `Limit > 0`)."""
    unlimited = limit is None or limit <= 0
    if not all_ and unlimited and not filters.get("status") and "exited" not in filters:
        return _WITHOUT_ALL
    return None


def select(
    entries: list[dict[str, Any]],
    limit: int | None,
    filters: Mapping[str, Sequence[str]],
    resolve_container: Callable[[str], str],
    resolve_image: Callable[[str], str],
) -> list[dict[str, Any]]:
    """`entries` (those of `listed_states`, newest first) as Docker lists them for `limit`
    and `filters`."""
    if "before" in filters or "since" in filters:
        ids = [e["Id"] for e in entries]  # newest first
        for key in ("before", "since"):
            for ref in filters.get(key, []):
                anchor = resolve_container(ref)
                if anchor not in ids:
                    raise NotFound(f"No such container: {ref}")
                at = ids.index(anchor)
                kept = set(ids[at + 1 :] if key == "before" else ids[:at])
                entries = [e for e in entries if e["Id"] in kept]
    ancestors: set[str] = set()
    for ref in filters.get("ancestor", []):
        ancestors.add(ref)
        with contextlib.suppress(BerthError, ValueError):
            ancestors.add(resolve_image(ref))
    for status in filters.get("status", []):
        if status not in STATUS_VALUES:
            raise InvalidParameter(f"Invalid filter 'status={status}'")
    names = [pattern_filter("name", pattern) for pattern in filters.get("name", [])]
    exited = []
    for text in filters.get("exited", []):
        try:
            exited.append(int(text))
        except ValueError:
            raise InvalidParameter(f'strconv.Atoi: parsing "{text}": invalid syntax') from None

    health_filter_values(filters.get("health", []))
    more = container_filters.tests(filters)

    def keep(entry: dict[str, Any]) -> bool:
        if "status" in filters and entry["State"] not in filters["status"]:
            return False
        if "id" in filters and not any(entry["Id"].startswith(v) for v in filters["id"]):
            return False
        name = entry["Names"][0].lstrip("/") if entry["Names"] else ""
        # dockerd tries the name with and without its leading slash.
        if names and not any(m(name) or m("/" + name) for m in names):
            return False
        labels = entry.get("Labels") or {}
        if "label" in filters and not all(label_matches(labels, v) for v in filters["label"]):
            return False
        if ancestors and not ({entry["Image"], entry["ImageID"]} & ancestors):
            return False
        if "volume" in filters and not mounts_volume(entry.get("Mounts") or [], filters["volume"]):
            return False
        if "health" in filters and health_of(entry) not in filters["health"]:
            return False
        if exited:
            found = _EXITED.search(entry.get("Status") or "")
            if entry["State"] != "exited" or not found or int(found.group(1)) not in exited:
                return False
        return all(test(entry) for test in more)

    entries = [e for e in entries if keep(e)]
    if limit is not None and limit > 0:
        entries = entries[:limit]
    return entries


def health_of(entry: Mapping[str, Any]) -> str:
    """The health a `ps` entry shows in its Status ("Up 2 minutes (healthy)")."""
    found = _HEALTH.search(entry.get("Status") or "")
    return found.group(1) if found else NO_HEALTHCHECK


def mounts_volume(mounts: Sequence[Mapping[str, Any]], wanted: Sequence[str]) -> bool:
    """dockerd's `volume` filter (daemon/list.go): a mount's destination, or its name (its
    source when it has none) is one of `wanted`."""
    destinations = {m["Destination"] for m in mounts}
    names = {m.get("Name") or m["Source"] for m in mounts}
    return any(value in destinations or value in names for value in wanted)
