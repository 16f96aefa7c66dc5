"""What berth does not apply yet is refused at create, with nothing recorded.

The real docker CLI against berthd: `run -i` and `run -t` (interactive containers are a
later issue) exit 125 with a message naming the setting, and the event log's head does
not move: no event, no name taken, no container listed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import Berthd


def log_head(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'events.db'}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    return int(found or 0)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("-i",), "OpenStdin (-i) is not supported by berth yet"),
        (("-t",), "Tty (-t) is not supported by berth yet"),
        (("-d", "-i"), "OpenStdin (-i) is not supported by berth yet"),
        (("-a", "stdin", "-a", "stdout"), "AttachStdin (-a stdin) is not supported by berth yet"),
    ],
)
def test_docker_run_interactive_is_refused_and_records_nothing(
    berthd: Berthd, flags: tuple[str, ...], message: str
) -> None:
    before = log_head(berthd.root)
    refused = berthd.docker("run", *flags, "--name", "interactive", "busybox", "cat")
    assert refused.returncode == 125, refused.stderr
    assert message in refused.stderr
    assert log_head(berthd.root) == before
    assert berthd.docker("ps", "-aq").stdout == ""
    # The name was not taken: a plain run with it works, attached and detached.
    plain = berthd.docker("run", "--name", "interactive", "busybox", "echo", "plain")
    assert (plain.returncode, plain.stdout) == (0, "plain\n"), plain.stderr
    assert berthd.docker("rm", "interactive").returncode == 0
