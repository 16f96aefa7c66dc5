"""The volume view: one row per volume that exists, and `/volumes`' filters over them.

A row holds what inspect shows but the data path (the engine's driver knows where that
is) and the containers that reference the volume, which `dangling` and the 409 of
`volume rm` read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.domain.errors import InvalidParameter

from ..store.events import LoggedEvent
from .filters import label_matches, pattern_filter
from .timefmt import docker_time

Row = dict[str, Any]
# dockerd's acceptedListFilters and acceptedPruneFilters (volume/service/service.go).
LIST_FILTERS = ("dangling", "name", "driver", "label")
PRUNE_FILTERS = ("label", "label!")


def fold(row: Row | None, event: LoggedEvent) -> Row | None:
    """The volume's row after `event`. A removed volume keeps a row marked `removed`
    (which queries skip) so that its name is known to a `Recreated` that does not say
    it (logs written before it did)."""
    data = event.data
    match event.name:
        case "Created" | "Recreated":
            return {
                "name": data.get("name") or (row or {}).get("name"),
                "driver": data["driver"],
                "options": data["options"],
                "labels": data["labels"],
                "anonymous": data["anonymous"],
                # Go's time.RFC3339, which dockerd prints volumes' times in: whole seconds.
                "created": docker_time(event.timestamp.replace(microsecond=0)),
                "users": [],
                "position": event.position,
            }
        case "Removed":
            return None if row is None else {"name": row["name"], "removed": True}
    if row is None or row.get("removed"):
        return row
    match event.name:
        case "Referenced":
            row["users"] = [*row["users"], data["container_id"]]
        case "Released":
            row["users"] = [u for u in row["users"] if u != data["container_id"]]
    return row


def document(row: Row, mountpoint: str) -> dict[str, Any]:
    """`GET /volumes/{name}`, in the order of dockerd's JSON."""
    return {
        "CreatedAt": row["created"],
        "Driver": row["driver"],
        "Labels": row["labels"],
        "Mountpoint": mountpoint,
        "Name": row["name"],
        "Options": row["options"],
        "Scope": "local",
    }


def _dangling(values: Sequence[str]) -> bool:
    if any(v in ("true", "1") for v in values):
        return True
    if all(v in ("false", "0") for v in values):
        return False
    raise InvalidParameter(f"Invalid filter 'dangling=[{' '.join(values)}]'")


def select(
    rows: list[Row], filters: Mapping[str, Sequence[str]], accepted: Sequence[str]
) -> list[Row]:
    """The rows `filters` keep (keys AND-ed, a key's values OR-ed), as dockerd's By."""
    for key in filters:
        if key not in accepted:
            raise InvalidParameter(f"Invalid filter '{key}'")
    kept = rows
    if "driver" in filters:
        kept = [r for r in kept if r["driver"] in filters["driver"]]
    if "name" in filters:
        patterns = [pattern_filter("name", p) for p in filters["name"]]
        kept = [r for r in kept if any(p(r["name"]) for p in patterns)]
    for wanted in filters.get("label", ()):
        kept = [r for r in kept if label_matches(r["labels"] or {}, wanted)]
    for unwanted in filters.get("label!", ()):
        kept = [r for r in kept if not label_matches(r["labels"] or {}, unwanted)]
    if "dangling" in filters:
        dangling = _dangling(filters["dangling"])
        kept = [r for r in kept if (not r["users"]) is dangling]
    return kept
