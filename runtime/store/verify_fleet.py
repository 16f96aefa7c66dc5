"""`berth audit verify` of a fleet's PostgreSQL log: each host's chain recomputed (ADR/0045).

Each host's chain is walked in position order from GENESIS, joined to the events at its
positions: an event whose bytes changed (an edit, or two events' contents swapped: a
reorder) breaks its own link, a deleted event leaves its link without an event, and an
event inserted behind berth's back has no link at all, whichever host it claims.
"""

from __future__ import annotations

import time
from typing import Any

from .chain import GENESIS, link
from .postgres import tuple_cursor as _cursor
from .verify import Problem, Report

BATCH = 10_000
WALK = (
    "SELECT c.position, c.chain_hash, e.originator_id, e.originator_version, e.topic, e.state "
    "FROM event_chain c LEFT JOIN berth_events e ON e.notification_id = c.position "
    "WHERE c.host_id = %s AND c.position > %s ORDER BY c.position LIMIT %s"
)
UNCHAINED = (
    "SELECT e.notification_id FROM berth_events e LEFT JOIN event_chain c "
    "ON c.position = e.notification_id WHERE c.position IS NULL "
    "ORDER BY e.notification_id LIMIT 1"
)


def fleet_hosts(datastore: Any) -> list[str]:
    """Every host with a chain in the log, by name."""
    with _cursor(datastore) as cursor:
        cursor.execute("SELECT DISTINCT host_id FROM event_chain ORDER BY host_id")
        return [str(found[0]) for found in cursor.fetchall()]


def verify_fleet(datastore: Any, host: str | None = None) -> Report:
    """Check one host's chain, or every host's (None), and that no event is unchained."""
    started = time.perf_counter()
    report = Report()
    hosts = [host] if host else fleet_hosts(datastore)
    with _cursor(datastore) as cursor:
        # One snapshot for every host's chain and the check for unchained events.
        for name in hosts:
            problem = _walk_host(cursor, name, report)
            if problem is not None:
                report.problem = problem
                break
        if report.problem is None:
            cursor.execute(UNCHAINED)
            found = cursor.fetchone()
            if found is not None:
                report.problem = Problem(
                    int(found[0]),
                    "inserted",
                    f"the event at position {found[0]} is in no host's chain: it was "
                    "inserted outside berth",
                )
    report.notes.append(f"hosts checked: {', '.join(hosts) or 'none'}")
    report.seconds = time.perf_counter() - started
    return report


def _walk_host(cursor: Any, host: str, report: Report) -> Problem | None:
    previous, after = GENESIS, 0
    while True:
        cursor.execute(WALK, (host, after, BATCH))
        rows = cursor.fetchall()
        if not rows:
            return None
        for position, stored, originator_id, version, topic, state in rows:
            if report.first_position == 0 or position < report.first_position:
                report.first_position = position
            if originator_id is None:
                return Problem(position, "missing", f"{host}'s event at {position} was deleted")
            current = link(
                previous,
                position,
                str(originator_id).encode(),
                int(version),
                str(topic).encode(),
                bytes(state),
            )
            if current != bytes(stored):
                return Problem(
                    position,
                    "edited",
                    f"{host}'s event at position {position} was changed, moved or its link "
                    "was: it does not hash to its link",
                )
            previous, after = current, position
            report.events += 1
            if position > report.head_position:
                report.head_position, report.head_hash = position, current.hex()

