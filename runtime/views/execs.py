"""The exec view: one row per exec instance, for a container's `ExecIDs` and for the
execs an engine must look after when it starts (started, not yet ended).

The Exec aggregate is the truth (`GET /exec/{id}/json` loads it); this only answers
"which execs of this container" without reading the log.
"""

from __future__ import annotations

from typing import Any

from ..store.events import LoggedEvent

Row = dict[str, Any]


def fold(row: Row | None, event: LoggedEvent) -> Row | None:
    """The exec's row after `event`."""
    if event.name == "Created":
        return {"container_id": event.data["container_id"], "started": False, "ended": False,
                "position": event.position}  # fmt: skip
    if row is None:
        return None
    if event.name == "StartRequested":
        return {**row, "started": True}
    if event.name in ("StartFailed", "Exited"):
        return {**row, "ended": True}
    return row
