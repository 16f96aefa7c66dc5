"""`GET /containers/json` (`docker ps`): the container list with Docker's `all`, `limit`
and `filters`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from berth.domain.container import LISTED_WITHOUT_ALL
from berth.domain.errors import BerthError, InvalidParameter, NotFound
from berth.domain.health import NO_HEALTHCHECK, health_filter_values

from .filters import label_matches, pattern_filter

LIST_FILTERS = (
    "status", "name", "id", "label", "ancestor", "exited", "before", "since", "volume",
    "health",
)  # fmt: skip
# container.IsValidStateString: a status filter naming no state is dockerd's 400.
STATUS_VALUES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
_EXITED = re.compile(r"Exited \((-?\d+)\)")
_HEALTH = re.compile(r"\((?:health: )?(starting|healthy|unhealthy)\)$")


def select(
    entries: list[dict[str, Any]],
    all_: bool,
    limit: int | None,
    filters: Mapping[str, Sequence[str]],
    resolve_container: Callable[[str], str],
    resolve_image: Callable[[str], str],
) -> list[dict[str, Any]]:
    """`entries` (every container, newest first) as Docker lists them for `all`, `limit`
    and `filters`."""
    if not all_ and limit is None and not filters.get("status") and "exited" not in filters:
        entries = [e for e in entries if e["State"] in LISTED_WITHOUT_ALL]
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
            raise InvalidParameter(f"invalid filter 'status={status}'")
    names = [pattern_filter("name", pattern) for pattern in filters.get("name", [])]
    exited = []
    for text in filters.get("exited", []):
        try:
            exited.append(int(text))
        except ValueError:
            raise InvalidParameter(f"invalid filter 'exited={text}'") from None

    health_filter_values(filters.get("health", []))

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
        return True

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
