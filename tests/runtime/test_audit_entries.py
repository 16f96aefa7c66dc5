"""The audit view's entries as SQLite writes them: the JSON `berth audit` prints."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.runtime.views import audit
from berth.runtime.views.timefmt import docker_time

YEARS_1900_TO_2200 = st.integers(min_value=-2_208_988_800_000_000, max_value=7_258_118_400_000_000)


@pytest.fixture(scope="module")
def table() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    for statement in audit.CREATE_STATEMENTS:
        connection.execute(statement)
    audit.add_host_column(connection.cursor())
    yield connection
    connection.close()


def row(connection: sqlite3.Connection, position: int, at_us: int, **values: object) -> None:
    columns = {
        "position": position, "at_us": at_us, "actor_kind": "api", "uid": 1000, "pid": 42,
        "command": "docker run -d busybox", "aggregate": "container", "subject": "c" * 64,
        "subject_name": "/web", "action": "Created", "correlation_id": "x",
        "details": json.dumps({"image": "busybox", "ports": [80, 443]}), "host": None,
        **values,
    }  # fmt: skip
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    connection.execute(f"INSERT INTO {audit.TABLE} ({names}) VALUES ({marks})", [*columns.values()])


@given(at_us=st.one_of(YEARS_1900_TO_2200, YEARS_1900_TO_2200.map(lambda us: us // 10**6 * 10**6)))
def test_an_entry_s_time_is_docker_s(table: sqlite3.Connection, at_us: int) -> None:
    table.execute(f"DELETE FROM {audit.TABLE}")
    row(table, 1, at_us)
    [entry] = audit.select(table.cursor(), audit.AuditQuery())
    assert json.loads(entry)["time"] == docker_time(audit.EPOCH + timedelta(microseconds=at_us))


def test_an_entry_names_its_host_only_in_a_fleet(table: sqlite3.Connection) -> None:
    table.execute(f"DELETE FROM {audit.TABLE}")
    row(table, 1, 1_700_000_000_000_000)
    row(table, 2, 1_700_000_000_250_000, host="host-ü", subject_name="/wéb", uid=None)
    lone, fleet = (json.loads(line) for line in audit.select(table.cursor(), audit.AuditQuery()))
    assert lone == {
        "position": 1,
        "time": "2023-11-14T22:13:20Z",
        "action": "Created",
        "type": "container",
        "id": "c" * 64,
        "name": "/web",
        "actor": {"kind": "api", "uid": 1000, "pid": 42, "command": "docker run -d busybox"},
        "correlation_id": "x",
        "details": {"image": "busybox", "ports": [80, 443]},
    }
    assert list(lone) == list(fleet)  # the order `berth audit` prints them in
    assert fleet["time"] == "2023-11-14T22:13:20.25Z"
    assert fleet["name"] == "/wéb"
    assert fleet["actor"] == {**lone["actor"], "uid": None, "host": "host-ü"}
    hosts = audit.AuditQuery(hosts=["host-ü"])
    assert [json.loads(e)["position"] for e in audit.select(table.cursor(), hosts)] == [2]
