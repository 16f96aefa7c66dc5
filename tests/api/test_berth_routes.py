"""berth's own routes (`/berth/...`) through `berth -H`: history, audit, inspect --at,
audit verify and projections rebuild answer from the daemon's log, whatever --root says.

The daemon's root is under tmp_path and `berth` runs with BERTH_ROOT pointing nowhere: a
command that read a root of its own instead of asking the daemon would find nothing.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.runtime.cli.client.http import DaemonClient, DaemonError

from .berth_cli import berth
from .conftest import Berthd


def positions(daemon: Berthd) -> int:
    with sqlite3.connect(daemon.root / "events.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


def test_log_commands_with_h_answer_from_the_daemons_log(berthd: Berthd) -> None:
    assert berth(berthd, "create", "--name", "web", "busybox", "true").returncode == 0
    assert berth(berthd, "rename", "web", "web2").returncode == 0
    container_id = json.loads(berth(berthd, "inspect", "web2").stdout)[0]["Id"]
    assert berth(berthd, "rm", "web2").returncode == 0

    history = berth(berthd, "history", "--format", "json", "web2")
    assert history.returncode == 0, history.stderr
    entries = [json.loads(line) for line in history.stdout.splitlines()]
    actions = ["Created", "Prepared", "Renamed", "RemovalRequested", "Removed"]
    assert [e["action"] for e in entries] == actions
    renamed = entries[2]
    assert renamed["changes"]["name"] == {"before": "/web", "after": "/web2"}
    assert renamed["actor"]["command"].endswith("rename web web2")
    assert "name: /web → /web2" in berth(berthd, "history", container_id).stdout

    audit = berth(berthd, "audit", "--format", "json", "--container", "web2", "--action", "rm")
    assert audit.returncode == 0, audit.stderr
    assert [json.loads(line)["action"] for line in audit.stdout.splitlines()] == [
        "RemovalRequested",
        "Removed",
    ]
    exported = berth(berthd, "audit", "--format", "commands", "--container", container_id)
    assert [json.loads(line)["method"] for line in exported.stdout.splitlines()] == [
        "POST",  # create
        "POST",  # rename
        "DELETE",
    ]
    assert "RemovalRequested" in berth(berthd, "audit").stdout  # the table

    renamed_at = renamed["position"]
    at = berth(berthd, "inspect", "--at", f"#{renamed_at}", "web2")
    assert at.returncode == 0, at.stderr
    assert json.loads(at.stdout)[0]["Name"] == "/web2"
    before = berth(berthd, "inspect", "--at", "#1", "web2")
    assert before.returncode == 1
    assert "No such container: web2 at #1" in before.stderr

    verified = berth(berthd, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"intact: {positions(berthd)} events" in verified.stdout
    rebuilt = berth(berthd, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"rebuilt all projections up to log position {positions(berthd)}" in rebuilt.stdout
    again = berth(berthd, "audit", "rebuild", "--all")
    assert "rebuilt the audit view and the views up to log position" in again.stdout
    assert berth(berthd, "history", "--format", "json", "web2").stdout == history.stdout


def test_audit_verify_with_h_names_the_daemons_damage(berthd: Berthd) -> None:
    assert berth(berthd, "create", "--name", "one", "busybox", "true").returncode == 0
    assert berth(berthd, "rm", "one").returncode == 0  # nothing left once the log is broken
    with sqlite3.connect(berthd.root / "events.db") as conn:
        conn.execute("UPDATE stored_events SET state = state || x'01' WHERE rowid = 2")
    verified = berth(berthd, "audit", "verify")
    assert verified.returncode == 1
    assert verified.stdout.startswith("TAMPERED: position 2: edited")


def test_unknown_containers_and_bad_input_are_docker_errors(berthd: Berthd) -> None:
    before = positions(berthd)
    missing = berth(berthd, "history", "nothing")
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: No such container: nothing\n",
    )
    for args, message in (
        (("audit", "--since", "yesterday"), "invalid time 'yesterday'"),
        (("audit", "--user", "no-such-user-here"), "no such user"),
        (("inspect", "--at", "soon", "x"), "invalid time 'soon'"),
        (("audit", "verify", "--jobs", "0"), "jobs must be at least 1"),
    ):
        refused = berth(berthd, *args)
        assert refused.returncode == 1, args
        assert refused.stderr.startswith("Error response from daemon:"), refused.stderr
        assert message in refused.stderr, (args, refused.stderr)
    client = DaemonClient(f"unix://{berthd.socket}")
    # Numbers past what SQLite holds are refused before any query is made.
    for query in (
        {"filters": json.dumps({"user": ["a\0b"]})},
        {"filters": json.dumps({"user": ["9" * 20]})},
        {"since": "9" * 20},
        {"since": "#" + "9" * 20},
        {"until": "#" + "9" * 20},
    ):
        with pytest.raises(DaemonError) as refused:
            client.call("GET", "/berth/audit", query)
        assert refused.value.status == 400, (query, refused.value.message)
    client.close()
    assert positions(berthd) == before


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "since": st.one_of(TEXT, st.just("#1"), st.just("10m")),
        "until": TEXT,
        "format": st.one_of(TEXT, st.sampled_from(["json", "commands"])),
        "filters": st.one_of(
            TEXT,
            st.dictionaries(
                st.sampled_from(["user", "action", "container", "other"]),
                st.lists(TEXT, max_size=2),
                max_size=3,
            ).map(json.dumps),
        ),
        "at": TEXT,
        "name": TEXT,
        "jobs": st.one_of(TEXT, st.integers(-2, 3).map(str)),
        "from": st.one_of(TEXT, st.integers(-2, 3).map(str)),
    },
)
ROUTES = st.sampled_from(
    [
        ("GET", "/berth/audit"),
        ("GET", "/berth/containers/first/history"),
        ("GET", "/berth/containers/first/json"),
        ("GET", "/berth/verify"),
        ("POST", "/berth/projections/rebuild"),
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=ROUTES, query=QUERIES)
def test_any_query_is_answered_and_records_nothing(
    berthd: Berthd, route: tuple[str, str], query: dict[str, Any]
) -> None:
    """Whatever the query: an answer or Docker's 4xx with a message, never a 5xx, and the
    log stays as it was."""
    client = DaemonClient(f"unix://{berthd.socket}")
    if not client.call("GET", "/containers/json", {"all": 1}):  # one for the routes to find
        body = {"Image": "busybox", "Cmd": ["true"]}
        client.call("POST", "/containers/create", {"name": "first"}, body=body)
    before = positions(berthd)
    method, path = route
    try:
        response = client.request(method, path, query)
        lines = [json.loads(line) for line in response.lines()]
        # The audit answers one line an entry: none when its filters match nothing.
        assert lines or path == "/berth/audit"
        assert not any("error" in line for line in lines if isinstance(line, dict))
    except DaemonError as refused:
        assert 400 <= refused.status < 500, (route, query, refused.status, refused.message)
        assert refused.message
    finally:
        client.close()
    assert positions(berthd) == before
