"""`berth audit`'s search of the audit trail, and its export as Docker API requests.

The filters arrive as users write them (times as RFC 3339, unix seconds, a duration ago or
`#POSITION`; users by uid or name; Docker verbs or event names; containers by any name
they had) and are turned into one `AuditQuery` here, whoever asks: berthd's
`GET /berth/audit` serves every front-end.
"""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from berth.domain.errors import InvalidParameter

from ..store.events import EventStore
from . import commands
from .audit import AuditQuery, AuditView, resolve_actions
from .moments import Moment, parse_moment
from .trail import ContainerLookup, find_container_id

FORMATS = ("json", "commands")
MAX_UID = 2**32 - 1  # uid_t
FILTERS = ("user", "action", "container", "host")


def user_id(text: str) -> int:
    """A uid as given, or the uid of a user name on this host."""
    if text.isascii() and text.isdigit():
        if int(text) > MAX_UID:
            raise InvalidParameter(f"no such user: {text}")
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise InvalidParameter(f"no such user: {text}") from None


def audit_query(
    lookup: ContainerLookup,
    now: datetime,
    since: str | None = None,
    until: str | None = None,
    filters: dict[str, list[str]] | None = None,
) -> AuditQuery:
    """The query for `berth audit`'s options; `--since #N` means after position N."""
    wanted = filters or {}
    start = parse_moment(since, now) if since else Moment()
    end = parse_moment(until, now) if until else Moment()
    actions = wanted.get("action", [])
    return AuditQuery(
        since=start.time,
        until=end.time,
        after_position=start.position,
        through_position=end.position,
        uids=[user_id(u) for u in wanted.get("user", [])],
        actions=resolve_actions(actions) if actions else (),
        subjects=[find_container_id(lookup, ref) for ref in wanted.get("container", [])],
        # A fleet's log: one host's, or every host's ("all", as without the filter).
        hosts=() if "all" in wanted.get("host", []) else wanted.get("host", []),
    )


def requests_only(query: AuditQuery) -> AuditQuery:
    """The query narrowed to the users' requests, for the command export."""
    wanted = [a for a in query.actions if a in commands.REQUEST_ACTIONS] if query.actions else []
    return replace(
        query,
        actor_kinds=commands.USER_ACTORS,
        # Loads are not requests to replay, but tell the export which tags an image has.
        actions=wanted
        or (() if query.actions else (*commands.REQUEST_ACTIONS, "Loaded", "Reloaded")),
    )


def audit_lines(root: Path, store: EventStore, query: AuditQuery) -> list[str]:
    """The matching entries of the root's audit view as JSON texts, caught up to the log
    first."""
    view = AuditView(root / "projections.db")
    try:
        view.catch_up(store)
        return view.lines(query)
    finally:
        view.close()


def audit_entries(root: Path, store: EventStore, query: AuditQuery) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit_lines(root, store, query)]


def exported_requests(store: EventStore, entries: Sequence[dict[str, Any]]) -> Iterator[Any]:
    """`--format commands`: the requests behind the entries, one dict per request."""

    def created_data(position: int) -> dict[str, Any]:
        [event] = store.read_log(after=position - 1, limit=1)
        return event.data

    return commands.export(list(entries), created_data)


def search(
    lookup: ContainerLookup,
    root: Path,
    now: datetime,
    output: str,
    since: str | None = None,
    until: str | None = None,
    filters: dict[str, list[str]] | None = None,
) -> list[str]:
    """What `berth audit --format OUTPUT` prints, one JSON text a line."""
    if output not in FORMATS:
        raise InvalidParameter(f"invalid format {output!r}: expected json or commands")
    query = audit_query(lookup, now, since, until, filters)
    if output == "json":
        return audit_lines(root, lookup.store, query)
    entries = audit_entries(root, lookup.store, requests_only(query))
    return [json.dumps(request) for request in exported_requests(lookup.store, entries)]
