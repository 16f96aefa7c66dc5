"""The hot remote commands through the fast path: the same output and exit codes as the
click commands, and neither click, rich nor trio imported (`python -X importtime`)."""

from __future__ import annotations

import os
import subprocess
import sys

from .berth_cli import berth
from .conftest import Berthd

HEAVY = ("click", "rich", "trio")


def through(daemon: Berthd, *args: str, click: bool = False) -> subprocess.CompletedProcess[str]:
    """`berth -H … ARGS` through the fast path, or through the click CLI (`-m …main`),
    with `-X importtime` on stderr after the command's own lines."""
    entry = ["-m", "berth.runtime.cli.main"] if click else [str(berth_script())]
    env = {**os.environ, "BERTH_ROOT": "/nonexistent/berth-remote-test"}
    env.pop("BERTH_HOST", None)
    return subprocess.run(
        [sys.executable, "-X", "importtime", *entry, "-H", f"unix://{daemon.socket}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def berth_script() -> str:
    return os.path.join(os.path.dirname(sys.executable), "berth")


def split(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str, set[str]]:
    """(exit code, stdout, stderr without importtime's lines, the top packages imported)."""
    own, imported = [], set()
    for line in result.stderr.splitlines(keepends=True):
        if line.startswith("import time:"):
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
        else:
            own.append(line)
    return result.returncode, result.stdout, "".join(own), imported


def test_the_hot_commands_import_neither_click_nor_rich_nor_trio(berthd: Berthd) -> None:
    lines = [
        ["run", "-d", "--name", "hot", "busybox", "sh", "-c", "echo up; sleep 30"],
        ["exec", "hot", "sh", "-c", "echo in; exit 4"],
        ["logs", "hot"],
        ["ps", "-a"],
        ["inspect", "hot"],
        ["stop", "-t", "1", "hot"],
        ["start", "hot"],
        ["rm", "-f", "hot"],
        ["run", "--rm", "busybox", "echo", "hi"],
    ]
    for args in lines:
        code, out, err, imported = split(through(berthd, *args))
        assert code == (4 if args[0] == "exec" else 0), (args, err)
        assert not imported & set(HEAVY), (args, sorted(imported & set(HEAVY)))
    assert out == "hi\n"
    assert "click" in split(through(berthd, "images"))[3]  # the others still go to click


def test_the_fast_path_answers_as_the_click_commands(berthd: Berthd) -> None:
    assert berth(berthd, "run", "-d", "--name", "box", "busybox", "sleep", "30").returncode == 0
    lines = [
        ["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"],
        ["run", "--rm", "busybox", "no-such-command"],
        ["run", "--rm", "--name", "box", "busybox", "true"],
        ["run", "--rm", "no-such-image-here:1", "true"],
        ["exec", "box", "sh", "-c", "echo x; echo y >&2; exit 5"],
        ["exec", "nosuch", "true"],
        ["inspect", "nosuch"],
        ["logs", "nosuch"],
        ["stop", "nosuch", "box"],
        ["start", "nosuch", "box"],
        ["rm", "nosuch"],
        ["ps", "-aq", "--no-trunc"],
    ]
    for args in lines:
        fast, slow = split(through(berthd, *args)), split(through(berthd, *args, click=True))
        assert fast[:3] == slow[:3], args
        assert "click" in slow[3]
        # A pull draws its progress with rich: that one line imports the click CLI's images.
        assert ("click" in fast[3]) == ("no-such-image-here:1" in args), args
    assert berth(berthd, "rm", "-f", "box").returncode == 0
