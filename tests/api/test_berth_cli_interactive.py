"""berth's own `run -i -t`, `attach` and `start -a -i` against berthd, on a pseudo-terminal
and with piped stdin."""

from __future__ import annotations

import json

from .conftest import Berthd
from .terminal import berth_piped, berth_terminal

CTRL_P_CTRL_Q = b"\x10\x11"


def test_run_it_is_a_terminal_that_follows_the_window_and_exits_with_the_shells_code(
    berthd: Berthd,
) -> None:
    term = berth_terminal(
        berthd, "run", "-it", "--name", "b-shell", "busybox", "sh", rows=31, cols=99
    )
    try:
        term.expect(b"# ")
        term.send(b"stty size\r")
        term.expect(b"31 99\r\n")
        term.resize(42, 111)
        term.send(b"stty size\r")
        term.expect(b"42 111\r\n")
        term.send(b"exit 3\r")
        assert term.wait() == 3
    finally:
        term.close()
    assert berthd.docker("rm", "b-shell").returncode == 0


def test_detach_then_attach_then_detach_again(berthd: Berthd) -> None:
    term = berth_terminal(berthd, "run", "-it", "--name", "b-away", "busybox", "sh")
    try:
        term.expect(b"# ")
        term.send(CTRL_P_CTRL_Q)
        assert term.wait() == 0
    finally:
        term.close()
    running = berthd.docker("inspect", "-f", "{{json .State.Running}}", "b-away")
    assert json.loads(running.stdout) is True
    again = berth_terminal(berthd, "attach", "b-away")
    try:
        again.send(b"echo b''ack\r")
        again.expect(b"\nback\r\n")
        again.send(CTRL_P_CTRL_Q)
        assert again.wait() == 1
        assert b"read escape sequence" in again.seen
    finally:
        again.close()
    assert berthd.docker("rm", "-f", "b-away").returncode == 0


def test_piped_stdin_through_run_i_and_start_ai(berthd: Berthd) -> None:
    piped = berth_piped(berthd, "run", "-i", "--rm", "busybox", "cat", stdin=b"data\n")
    assert (piped.returncode, piped.stdout) == (0, b"data\n"), piped.stderr
    created = berthd.docker(
        "create", "-i", "--name", "b-later", "busybox", "sh", "-c", "cat; exit 4"
    )
    assert created.returncode == 0, created.stderr
    started = berth_piped(berthd, "start", "-a", "-i", "b-later", stdin=b"in\n")
    assert (started.returncode, started.stdout) == (4, b"in\n"), started.stderr
    assert berthd.docker("rm", "b-later").returncode == 0
