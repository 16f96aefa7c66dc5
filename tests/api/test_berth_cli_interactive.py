"""berth's own `run -i -t`, `attach` and `start -a -i` against berthd, on a pseudo-terminal
and with piped stdin."""

from __future__ import annotations

import json

from .conftest import Berthd
from .terminal import SIZE_ON_ENTER, berth_piped, berth_terminal


def test_run_it_is_a_terminal_that_follows_the_window_and_exits_with_the_shells_code(
    berthd: Berthd,
) -> None:
    run = ("run", "-it", "--name", "b-shell", "busybox", "sh", "-c", f"{SIZE_ON_ENTER}; exit 3")
    with berth_terminal(berthd, *run, rows=31, cols=99) as term:
        term.shows_size(31, 99)
        term.resize(42, 111)
        term.shows_size(42, 111)
        term.send(b"\x04")  # ctrl-d: the end of input
        assert term.wait() == 3
    assert berthd.docker("rm", "b-shell").returncode == 0


def test_detach_then_attach_then_detach_again(berthd: Berthd) -> None:
    with berth_terminal(berthd, "run", "-it", "--name", "b-away", "busybox", "sh") as term:
        term.expect(b"# ")
        term.detach(attached=False)
    running = berthd.docker("inspect", "-f", "{{json .State.Running}}", "b-away")
    assert json.loads(running.stdout) is True
    with berth_terminal(berthd, "attach", "b-away") as again:
        again.echoes("back")
        again.detach()
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
