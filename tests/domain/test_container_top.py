"""`docker top`'s reading of `ps` output (domain/container_top.py), as dockerd's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.container_top import PsOutputError, parse_ps_output, ps_arguments
from berth.domain.errors import InvalidParameter

PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 09:00 ?        00:00:01 /sbin/init
root        4242    4200  0 09:01 ?        00:00:00 sleep 4242
root        4300    4242  0 09:01 ?        00:00:00 sh -c echo a  b
"""


def test_rows_of_the_containers_pids_with_the_command_in_the_last_column() -> None:
    listed = parse_ps_output(PS_EF, {4242, 4300})
    assert listed["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [row[-1] for row in listed["Processes"]] == ["sleep 4242", "sh -c echo a b"]
    assert all(len(row) == 8 for row in listed["Processes"])


def test_thread_rows_follow_their_process() -> None:
    output = "PID TID CMD\n10 - a\n- 10 a\n11 - b\n- 11 b\n"
    assert parse_ps_output(output, {10})["Processes"] == [["10", "-", "a"], ["-", "10", "a"]]


def test_no_pid_column_and_bad_pids_are_dockerds_errors() -> None:
    with pytest.raises(PsOutputError, match="Couldn't find PID field in ps output"):
        parse_ps_output("USER CMD\nroot x\n", {1})
    with pytest.raises(PsOutputError, match="Unexpected pid 'x'"):
        parse_ps_output("PID CMD\nx y\n", {1})


def test_ps_arguments() -> None:
    assert ps_arguments(None) == ps_arguments("") == ["-ef"]
    assert ps_arguments("aux") == ["aux"]
    assert ps_arguments("-o pid,comm") == ["-o", "pid,comm"]
    assert ps_arguments("-o pid=PID") == ["-o", "pid=PID"]
    with pytest.raises(InvalidParameter, match='specifying "user=PID" is not allowed'):
        ps_arguments("-o user=PID")


@given(
    st.lists(
        st.tuples(st.integers(1, 99999), st.text("abc -", min_size=1, max_size=12)),
        max_size=20,
        unique_by=lambda row: row[0],
    ),
    st.sets(st.integers(1, 99999)),
)
def test_exactly_the_rows_of_the_given_pids_are_kept(
    rows: list[tuple[int, str]], pids: set[int]
) -> None:
    text = "\n".join(["  PID CMD", *(f"{pid:>5} x{command}" for pid, command in rows)])
    listed = parse_ps_output(text, pids)
    assert [int(row[0]) for row in listed["Processes"]] == [p for p, _ in rows if p in pids]
    assert all(len(row) == 2 for row in listed["Processes"])
