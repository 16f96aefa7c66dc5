"""`berth audit`, `berth audit verify`, and what `history` and `inspect --at` print.

All of these read the local log under `--root` (they have no Docker API counterpart).
The log's modules are imported when a command runs, so `berth` itself starts fast.
"""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from berth.domain.errors import InvalidParameter, NotFound

from ..views import commands
from ..views.moments import Moment, parse_moment

if TYPE_CHECKING:
    from ..service.engine import Engine
    from ..views.audit import AuditQuery, AuditView

root_override = click.option(
    "--root",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: berth's --root).",
)


def _use_root(ctx: click.Context, root: Path | None) -> Path:
    if root is not None:
        ctx.find_root().obj["root"] = root
    found: Path = ctx.find_root().obj["root"]
    return found


def _uid(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise InvalidParameter(f"no such user: {text}") from None


def audit_query(
    engine: Engine,
    since: str | None,
    until: str | None,
    users: tuple[str, ...],
    actions: tuple[str, ...],
    refs: tuple[str, ...],
) -> AuditQuery:
    """The view query for `berth audit`'s options; `--since #N` means after position N."""
    from ..views import audit as audit_view

    now = datetime.now(UTC).astimezone()  # a time without a zone is local, as docker's
    start = parse_moment(since, now) if since else Moment()
    end = parse_moment(until, now) if until else Moment()
    return audit_view.AuditQuery(
        since=start.time,
        until=end.time,
        after_position=start.position,
        through_position=end.position,
        uids=[_uid(u) for u in users],
        actions=audit_view.resolve_actions(actions) if actions else (),
        subjects=[engine.find_container_id(ref) for ref in refs],
    )


@contextmanager
def audit_view(engine: Engine) -> Iterator[AuditView]:
    """The audit view of the engine's root, caught up to the log."""
    from ..views.audit import AuditView

    view = AuditView(engine.root / "projections.db")
    try:
        view.catch_up(engine.store)
        yield view
    finally:
        view.close()


def audit_entries(engine: Engine, query: AuditQuery) -> list[dict[str, Any]]:
    with audit_view(engine) as view:
        return view.entries(query)


def created_data(engine: Engine) -> commands.CreatedData:
    def read(position: int) -> dict[str, Any]:
        [event] = engine.store.read_log(after=position - 1, limit=1)
        return event.data

    return read


def _print_audit_table(entries: list[dict[str, Any]]) -> None:
    from ..views.trail import actor_text
    from .main import Table, console

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("POSITION", "TIME", "ACTOR", "ACTION", "TYPE", "NAME", "ID", "DETAILS"):
        table.add_column(column)
    for entry in entries:
        shown = " ".join(f"{k}={v}" for k, v in entry["details"].items())
        table.add_row(
            str(entry["position"]),
            entry["time"],
            actor_text(entry["actor"]),
            entry["action"],
            entry["type"],
            entry["name"].lstrip("/"),
            entry["id"].removeprefix("sha256:")[:12],
            shown,
        )
    console.print(table)


@click.group(invoke_without_command=True)
@click.option("--since", default=None, help="From this time (RFC 3339, unix, 10m) or after #POS.")
@click.option("--until", default=None, help="Up to this time, or up to #POS included.")
@click.option("--user", "users", multiple=True, help="Caller's uid (or user name); repeatable.")
@click.option("--action", "actions", multiple=True, help="e.g. create, rm, pull, or an event.")
@click.option("--container", "refs", multiple=True, help="A container, removed ones included.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "commands"]),
    default="table",
    help="commands: the users' requests as Docker API calls, one JSON line each.",
)
@root_override
@click.pass_context
def audit(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    users: tuple[str, ...],
    actions: tuple[str, ...],
    refs: tuple[str, ...],
    output: str,
    root: Path | None,
) -> None:
    """Who did what, when, to which container or image (reads the local log only)."""
    _use_root(ctx, root)
    if ctx.invoked_subcommand is not None:
        return
    from .main import open_engine

    with open_engine(ctx) as engine:
        query = audit_query(engine, since, until, users, actions, refs)
        if output == "commands":
            query = _requests_only(query)
        entries = audit_entries(engine, query)
        if output == "commands":
            for line in commands.export(entries, created_data(engine)):
                click.echo(json.dumps(line, separators=(",", ":")))
        elif output == "json":
            for entry in entries:
                click.echo(json.dumps(entry))
        else:
            _print_audit_table(entries)


def _requests_only(query: AuditQuery) -> AuditQuery:
    wanted = [a for a in query.actions if a in commands.REQUEST_ACTIONS] if query.actions else []
    return replace(
        query,
        actor_kinds=commands.USER_ACTORS,
        # Loads are not requests to replay, but tell the export which tags an image has.
        actions=wanted
        or (() if query.actions else (*commands.REQUEST_ACTIONS, "Loaded", "Reloaded")),
    )


@audit.command("verify")
@click.option("--jobs", type=int, default=None, help="Worker processes (default: CPUs).")
@click.option(
    "--from",
    "start",
    type=int,
    default=0,
    help="Only from the checkpoint at or before this position (default: the whole log).",
)
@root_override
@click.pass_context
def verify_command(ctx: click.Context, jobs: int | None, start: int, root: Path | None) -> None:
    """Check the log's hash chain: exit 0 if intact, 1 naming the first bad position."""
    from ..store.verify import has_chain, verify

    db_path = _use_root(ctx, root) / "events.db"
    if not db_path.is_file():
        click.echo(f"Error: no event log at {db_path}", err=True)
        ctx.exit(1)
    if not has_chain(db_path):
        from ..store.events import EventStore

        click.echo("the log has no hash chain yet: chaining it now (backfill)", err=True)
        EventStore(db_path).close()
    report = verify(db_path, jobs=jobs, start_after=max(start - 1, 0))
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.problem is not None:
        problem = report.problem
        click.echo(f"TAMPERED: position {problem.position}: {problem.kind}: {problem.detail}")
        click.echo(f"checked {report.events} events before it in {report.seconds:.2f}s")
        ctx.exit(1)
    click.echo(
        f"intact: {report.events} events (positions {report.first_position}-"
        f"{report.head_position}), {report.checkpoints} checkpoints, checked in "
        f"{report.segments} segments in {report.seconds:.2f}s"
    )
    click.echo(f"head: position {report.head_position} sha256 {report.head_hash}")


@audit.command("rebuild")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also the views ps, inspect and images read, in the same pass over the log.",
)
@root_override
@click.pass_context
def rebuild_command(ctx: click.Context, everything: bool, root: Path | None) -> None:
    """Drop the audit view and rebuild it from the event log."""
    from ..views.audit import AuditView
    from .main import open_engine

    _use_root(ctx, root)
    with open_engine(ctx) as engine:
        view = AuditView(engine.root / "projections.db")
        try:
            position = view.rebuild(engine.store, engine.views if everything else None)
        finally:
            view.close()
        what = "the audit view and the views" if everything else "the audit view"
        click.echo(f"rebuilt {what} up to log position {position}")


# Used by cli.py's history and inspect ---------------------------------------------------


def print_history(engine: Engine, ref: str, output: str) -> None:
    """`berth history`: the container's events, with the caller and what changed."""
    from ..views.trail import actor_text, details_text, history_entries
    from .main import Table, console

    entries = history_entries(engine.history(engine.find_container_id(ref)))
    if output == "json":
        # One object a line, as docker's `--format json`.
        click.echo("\n".join(map(json.JSONEncoder().encode, entries)))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("POSITION", "TIME", "ACTION", "ACTOR", "DETAILS"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            str(entry["position"]),
            entry["time"],
            entry["action"],
            actor_text(entry["actor"]),
            details_text(entry),
        )
    console.print(table)


def inspect_at(ctx: click.Context, at: str, refs: tuple[str, ...]) -> None:
    """`berth inspect --at`: each container's document as it was then, removed or not."""
    from ..views.trail import document_at
    from .main import open_engine

    with open_engine(ctx) as engine:
        moment = parse_moment(at, datetime.now(UTC).astimezone())
        docs = []
        for ref in refs:
            doc = document_at(engine.history(engine.find_container_id(ref)), moment)
            if doc is None:
                raise NotFound(f"No such container: {ref} at {at}")
            docs.append(doc)
        click.echo(json.dumps(docs, indent=4))


def register(main: click.Group) -> None:
    main.add_command(audit)
