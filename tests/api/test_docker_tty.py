"""`docker run -it`, `attach`, detach keys, resize and piped stdin through berthd, with the
real docker CLI on a pseudo-terminal (ADR/0033)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable

from .conftest import Berthd
from .terminal import docker_piped, docker_terminal

CTRL_P_CTRL_Q = b"\x10\x11"


def running(daemon: Berthd, name: str) -> bool:
    found = daemon.docker("inspect", "-f", "{{json .State.Running}}", name)
    assert found.returncode == 0, found.stderr
    return bool(json.loads(found.stdout))


def test_run_it_types_a_command_reads_its_output_and_exits_with_its_code(
    berthd: Berthd,
) -> None:
    term = docker_terminal(berthd, "run", "-it", "--name", "shell", "busybox", "sh")
    try:
        term.expect(b"# ")
        term.send(b"echo h''i\r")
        # The command echoed back is `echo h''i`: `hi` alone is the command's output.
        term.expect(b"\nhi\r\n")
        term.send(b"exit 3\r")
        assert term.wait() == 3
    finally:
        term.close()
    assert berthd.docker("inspect", "-f", "{{.State.ExitCode}}", "shell").stdout == "3\n"
    assert berthd.docker("rm", "shell").returncode == 0


def test_detach_keys_leave_the_container_running_and_attach_gets_back_to_it(
    berthd: Berthd,
) -> None:
    term = docker_terminal(berthd, "run", "-it", "--name", "away", "busybox", "sh")
    try:
        term.expect(b"# ")
        term.send(CTRL_P_CTRL_Q)
        assert term.wait() == 0, term.seen
    finally:
        term.close()
    assert running(berthd, "away")
    again = docker_terminal(berthd, "attach", "--detach-keys", "ctrl-x,y", "away")
    try:
        again.send(b"echo b''ack\r")
        again.expect(b"\nback\r\n")
        again.send(b"\x18y")
        # The docker CLI's own answer to a detach from `attach` (against dockerd too).
        assert again.wait() == 1
        assert b"read escape sequence" in again.seen
    finally:
        again.close()
    assert running(berthd, "away")
    assert berthd.docker("rm", "-f", "away").returncode == 0


def test_resizing_the_window_changes_the_containers_terminal_size(berthd: Berthd) -> None:
    term = docker_terminal(berthd, "run", "-it", "--rm", "busybox", "sh", rows=30, cols=100)
    try:
        term.expect(b"# ")
        term.send(b"stty size\r")
        term.expect(b"30 100\r\n")  # the size the window had when the container started
        term.resize(40, 120)
        term.send(b"stty size\r")
        term.expect(b"40 120\r\n")
        term.send(b"exit\r")
        assert term.wait() == 0
    finally:
        term.close()


def test_piped_stdin_reaches_the_container_and_its_end_closes_it(berthd: Berthd) -> None:
    piped = docker_piped(berthd, "run", "-i", "--rm", "busybox", "cat", stdin=b"data\n")
    assert (piped.returncode, piped.stdout) == (0, b"data\n"), piped.stderr
    big = os.urandom(3 * 1024 * 1024)
    copied = docker_piped(berthd, "run", "-i", "--rm", "busybox", "cat", stdin=big)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout == big


def test_start_ai_attaches_stdin_and_the_output(berthd: Berthd) -> None:
    created = berthd.docker("create", "-i", "--name", "later", "busybox", "sh", "-c", "cat; exit 4")
    assert created.returncode == 0, created.stderr
    started = docker_piped(berthd, "start", "-ai", "later", stdin=b"from stdin\n")
    assert (started.returncode, started.stdout) == (4, b"from stdin\n"), started.stderr
    assert berthd.docker("rm", "later").returncode == 0


def test_run_t_alone_gives_a_terminal_without_stdin(berthd: Berthd) -> None:
    term = docker_terminal(berthd, "run", "-t", "--rm", "busybox", "sh", "-c", "tty; exit 5")
    try:
        term.expect(b"/dev/pts/0\r")  # the client leaves the terminal cooked: \r\r\n
        assert term.wait() == 5
    finally:
        term.close()


def test_attach_survives_a_berthd_restart_and_the_output_meanwhile_is_logged(
    start_berthd: Callable[..., Berthd],
) -> None:
    daemon = start_berthd()
    term = docker_terminal(daemon, "run", "-it", "--name", "lasting", "busybox", "sh")
    try:
        term.expect(b"# ")
        term.send(b"while sleep 0.2; do echo tick; done\r")
        term.expect(b"tick")
        os.kill(daemon.process.pid, signal.SIGKILL)
        daemon.wait_killed()
        term.wait()
    finally:
        term.close()
    restarted = start_berthd()  # the same root and socket
    again = docker_terminal(restarted, "attach", "lasting")
    try:
        again.expect(b"tick\r\n")
        again.send(b"\x03")  # ctrl-c ends the loop, the shell remains
        again.send(b"echo a''gain\r")
        again.expect(b"\nagain\r\n")
        again.send(CTRL_P_CTRL_Q)
        assert again.wait() == 1
        assert b"read escape sequence" in again.seen
    finally:
        again.close()
    logs = restarted.docker("logs", "lasting")
    assert logs.stdout.count("tick") > 1
    assert restarted.docker("rm", "-f", "lasting").returncode == 0


def test_a_stdin_with_a_stdout_only_attaches_those(berthd: Berthd) -> None:
    piped = docker_piped(
        berthd, "run", "-a", "stdin", "-a", "stdout", "-i", "--rm", "busybox",
        "sh", "-c", "cat; echo not-shown >&2", stdin=b"data\n",
    )  # fmt: skip
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, b"data\n", b"")
