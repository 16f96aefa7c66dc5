"""The fast path reads the hot commands' flags as click does, or leaves them to click.

For command lines made of the commands' own flags (and a few that are not theirs), the
fast path's parameters are click's parameters for the same line, whenever it reads it;
the common lines it does read. Without a daemon.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.runtime.cli import main as cli_main
from berth.runtime.cli.fast import HANDLERS, fast_command
from berth.runtime.cli.fast_flags import COMMANDS, SWITCH, parse

#: Words that are no command's flag or that click reads differently.
STRANGERS = ["--help", "-x", "--no-such", "--rm=1", "-", "--", "-5", "--name="]
VALUES = ["a", "web", "1", "A=b", "0", "-q", ""]


def click_params(name: str, args: list[str]) -> dict[str, Any] | None:
    command = cli_main.main.get_command(click.Context(cli_main.main), name)
    assert command is not None
    try:
        with command.make_context(name, list(args), resilient_parsing=False) as ctx:
            return dict(ctx.params)
    except (click.exceptions.Exit, click.ClickException):
        return None


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[str, list[str]]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    flags = COMMANDS[name].flags
    words: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        spelling = draw(st.sampled_from(sorted(flags) * 4 + STRANGERS))
        kind = flags.get(spelling, ("", SWITCH))[1]
        if kind == SWITCH:
            words.append(spelling)
        elif draw(st.booleans()) and spelling.startswith("--"):
            words.append(f"{spelling}={draw(st.sampled_from(VALUES))}")
        elif draw(st.booleans()) and not spelling.startswith("--"):
            words.append(spelling + draw(st.sampled_from(VALUES)))
        else:
            words += [spelling, draw(st.sampled_from(VALUES))]
        if draw(st.integers(0, 4)) == 0:
            words.append(draw(st.sampled_from(["busybox", "box", "sh", "-l", "--", "-it"])))
    return name, words


@settings(max_examples=400, deadline=None)
@given(command_lines())
def test_the_fast_path_reads_what_click_reads(line: tuple[str, list[str]]) -> None:
    name, args = line
    fast = parse(name, args)
    if fast is not None:
        assert fast == click_params(name, args), (name, args)


COMMON = [
    ("run", ["--rm", "busybox", "true"]),
    ("run", ["-d", "--name", "web", "-e", "A=1", "-l", "tier=web", "busybox", "sleep", "9"]),
    ("run", ["-it", "--rm", "--network=none", "-w", "/tmp", "busybox", "sh", "-c", "ls -l"]),
    ("run", ["--rm", "--", "busybox", "echo", "--rm", "-d"]),
    ("ps", ["-a"]),
    ("ps", ["-aq", "--no-trunc", "-n", "3", "--format", "json"]),
    ("start", ["web", "db"]),
    ("stop", ["-t", "1", "web"]),
    ("stop", ["web", "--time=2"]),
    ("rm", ["-fv", "web"]),
    ("rm", ["web", "-f"]),
    ("inspect", ["web", "busybox"]),
    ("logs", ["-f", "-t", "--tail", "10", "web"]),
    ("exec", ["-it", "-e", "X=1", "-u", "0", "web", "sh", "-c", "exit 3"]),
    ("exec", ["web", "ls", "-l"]),
]


def test_the_common_lines_are_read_by_the_fast_path_as_click_reads_them() -> None:
    for name, args in COMMON:
        fast = parse(name, args)
        assert fast is not None, (name, args)
        assert fast == click_params(name, args), (name, args)


def test_lines_the_fast_path_leaves_to_click() -> None:
    env = {"BERTH_HOST": "unix:///run/b.sock"}
    assert fast_command(["-H", "unix:///s", "ps", "-a"], {}) == ("unix:///s", "ps", ["-a"])
    assert fast_command(["--host=unix:///s", "rm", "x"], {}) == ("unix:///s", "rm", ["x"])
    assert fast_command(["logs", "x"], env) == ("unix:///run/b.sock", "logs", ["x"])
    assert fast_command(["ps"], {}) is None  # no host: the root's engine, through click
    assert fast_command(["--root", "/r", "ps"], env) is None
    assert fast_command(["images"], env) is None
    assert fast_command(["-H", "tcp://h:1", "ps"], {}) is None  # click says why not
    assert parse("ps", ["-f", "status=exited"]) is None
    assert parse("run", ["-p", "80:80", "busybox"]) is None
    assert parse("logs", ["--since", "10m", "x"]) is None
    assert parse("stop", ["-t", "soon", "x"]) is None
    assert parse("inspect", []) is None


def test_every_command_is_in_its_module_and_every_hot_one_is_handled() -> None:
    found = {
        command.name: module
        for module in set(cli_main.MODULES.values())
        for command in importlib.import_module(f"berth.runtime.cli.{module}").COMMANDS
    }
    assert found == cli_main.MODULES
    assert set(HANDLERS) == set(COMMANDS) <= set(found)


def test_berth_is_imported_without_an_import_hook_from_compiled_sources() -> None:
    hooks = [f for f in sys.meta_path if "__editable__" in getattr(f, "__module__", "")]
    assert hooks == []
    fast = importlib.import_module("berth.runtime.cli.fast")
    assert fast.__spec__ is not None and fast.__spec__.cached is not None
    # Compiled at set-up (compileall), so that it is read when writing bytecode is off.
    assert Path(fast.__spec__.cached).is_file()
