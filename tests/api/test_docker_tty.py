"""`docker run -it`, `attach`, detach keys, resize and piped stdin through berthd, with the
real docker CLI on a pseudo-terminal (ADR/0033)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable

from .conftest import Berthd
from .terminal import SIZE_ON_ENTER, docker_piped, docker_terminal


def running(daemon: Berthd, name: str) -> bool:
    found = daemon.docker("inspect", "-f", "{{json .State.Running}}", name)
    assert found.returncode == 0, found.stderr
    return bool(json.loads(found.stdout))


def test_run_it_types_a_command_reads_its_output_and_exits_with_its_code(
    berthd: Berthd,
) -> None:
    with docker_terminal(berthd, "run", "-it", "--name", "shell", "busybox", "sh") as term:
        term.expect(b"# ")
        term.echoes("hi")
        term.send(b"exit 3\r")
        assert term.wait() == 3
    assert berthd.docker("inspect", "-f", "{{.State.ExitCode}}", "shell").stdout == "3\n"
    assert berthd.docker("rm", "shell").returncode == 0


def test_detach_keys_leave_the_container_running_and_attach_gets_back_to_it(
    berthd: Berthd,
) -> None:
    with docker_terminal(berthd, "run", "-it", "--name", "away", "busybox", "sh") as term:
        term.expect(b"# ")
        term.detach(attached=False)
    assert running(berthd, "away")
    with docker_terminal(berthd, "attach", "--detach-keys", "ctrl-x,y", "away") as again:
        again.echoes("back")
        again.detach(b"\x18y")
    assert running(berthd, "away")
    assert berthd.docker("rm", "-f", "away").returncode == 0


def test_resizing_the_window_changes_the_containers_terminal_size(berthd: Berthd) -> None:
    run = ("run", "-it", "--rm", "busybox", "sh", "-c", SIZE_ON_ENTER)
    with docker_terminal(berthd, *run, rows=30, cols=100) as term:
        term.shows_size(30, 100)  # the size the window had when the container started
        term.resize(40, 120)
        term.shows_size(40, 120)
        term.send(b"\x04")  # ctrl-d: the end of input
        assert term.wait() == 0


def test_piped_stdin_reaches_the_container_and_its_end_closes_it(berthd: Berthd) -> None:
    piped = docker_piped(berthd, "run", "-i", "--rm", "busybox", "cat", stdin=b"data\n")
    assert (piped.returncode, piped.stdout) == (0, b"data\n"), piped.stderr
    big = os.urandom(3 * 1024 * 1024)
    copied = docker_piped(berthd, "run", "-i", "--rm", "busybox", "cat", stdin=big)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout == big


def test_a_stdin_with_a_stdout_only_attaches_those(berthd: Berthd) -> None:
    piped = docker_piped(
        berthd, "run", "-a", "stdin", "-a", "stdout", "-i", "--rm", "busybox",
        "sh", "-c", "cat; echo not-shown >&2", stdin=b"data\n",
    )  # fmt: skip
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, b"data\n", b"")


def test_start_ai_attaches_stdin_and_the_output(berthd: Berthd) -> None:
    created = berthd.docker("create", "-i", "--name", "later", "busybox", "sh", "-c", "cat; exit 4")
    assert created.returncode == 0, created.stderr
    started = docker_piped(berthd, "start", "-ai", "later", stdin=b"from stdin\n")
    assert (started.returncode, started.stdout) == (4, b"from stdin\n"), started.stderr
    assert berthd.docker("rm", "later").returncode == 0


def test_run_t_alone_gives_a_terminal_without_stdin(berthd: Berthd) -> None:
    run = ("run", "-t", "--rm", "busybox", "sh", "-c", "tty; exit 5")
    with docker_terminal(berthd, *run) as term:
        term.expect(b"/dev/pts/0\r")  # the client leaves the terminal cooked: \r\r\n
        assert term.wait() == 5


def test_attach_survives_a_berthd_restart_and_the_output_meanwhile_is_logged(
    start_berthd: Callable[..., Berthd],
) -> None:
    daemon = start_berthd()
    with docker_terminal(daemon, "run", "-it", "--name", "lasting", "busybox", "sh") as term:
        term.expect(b"# ")
        term.send(b"while sleep 0.2; do echo tick; done\r")
        term.expect(b"tick")
        os.kill(daemon.process.pid, signal.SIGKILL)
        daemon.wait_killed()
        term.wait()
    restarted = start_berthd()  # the same root and socket
    with docker_terminal(restarted, "attach", "lasting") as again:
        again.expect(b"tick\r\n")
        again.send(b"\x03")  # ctrl-c ends the loop, the shell remains
        again.echoes("again")
        again.detach()
    logs = restarted.docker("logs", "lasting")
    assert logs.stdout.count("tick") > 1
    assert restarted.docker("rm", "-f", "lasting").returncode == 0
