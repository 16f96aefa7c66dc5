"""`docker exec -it` and `berth exec` on a pseudo-terminal and with piped stdin: type a
command, read its output, resize the window, exit with a code, detach."""

from __future__ import annotations

import os
import subprocess

from ..fixtures.berthd import BIN
from .conftest import Berthd
from .terminal import Terminal, docker_piped, docker_terminal


def _running(berthd: Berthd) -> None:
    run = berthd.docker("run", "-d", "--name", "c1", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr


def test_docker_exec_it_shell_resize_and_exit_code(berthd: Berthd) -> None:
    _running(berthd)
    term = docker_terminal(berthd, "exec", "-it", "c1", "sh", rows=30, cols=90)
    try:
        term.expect(b"# ")
        term.send(b"stty size\r")
        term.expect(b"30 90\r\n")
        term.resize(40, 120)
        term.send(b"stty size\r")
        term.expect(b"40 120\r\n")
        term.send(b"exit 3\r")
        assert term.wait() == 3
    finally:
        term.close()


def test_docker_exec_it_detaches_with_the_keys_and_the_process_runs_on(berthd: Berthd) -> None:
    _running(berthd)
    term = docker_terminal(berthd, "exec", "-it", "c1", "sh")
    try:
        term.expect(b"# ")  # the client's terminal is raw by now: ctrl-q is no XON
        term.send(b"sleep 301\r")
        term.expect(b"sleep 301\r\n")
        term.send(b"\x10\x11")
        # The docker CLI's own word and code for a detach of exec or attach (with
        # dockerd too: it is the client that reads the keys first).
        assert term.wait() == 1, term.seen
        assert b"read escape sequence" in term.seen
    finally:
        term.close()
    listed = berthd.docker("exec", "c1", "/bin/busybox", "ps")
    assert "sleep 301" in listed.stdout


def test_docker_exec_i_pipes_stdin(berthd: Berthd) -> None:
    _running(berthd)
    echoed = docker_piped(berthd, "exec", "-i", "c1", "sh", "-c", "cat; exit 4", stdin=b"data\n")
    assert (echoed.returncode, echoed.stdout) == (4, b"data\n"), echoed.stderr


def _berth_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BERTH_HOST", "BERTH_ROOT")}
    env["BERTH_ROOT"] = "/nonexistent/berth-remote-test"
    return env


def _berth(berthd: Berthd, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(BIN / "berth"), "-H", f"unix://{berthd.socket}", *args],
        input=stdin, capture_output=True, timeout=60, env=_berth_env(), check=False,
    )  # fmt: skip


def test_berth_exec_flags_stdin_detach_and_exit_code(berthd: Berthd) -> None:
    _running(berthd)
    assert _berth(berthd, "exec", "c1", "sh", "-c", "exit 7").returncode == 7
    both = _berth(berthd, "exec", "-e", "A=1", "-w", "/etc", "c1", "sh", "-c",
                  'echo "$A $PWD"; echo err >&2')  # fmt: skip
    assert (both.returncode, both.stdout, both.stderr) == (0, b"1 /etc\n", b"err\n")
    assert _berth(berthd, "exec", "-u", "1000", "c1", "id", "-u").stdout == b"1000\n"
    assert _berth(berthd, "exec", "-i", "c1", "cat", stdin=b"piped\n").stdout == b"piped\n"
    missing = _berth(berthd, "exec", "c1", "nosuchbinary")
    assert missing.returncode == 126 and b"executable file not found" in missing.stdout
    detached = _berth(berthd, "exec", "-d", "c1", "sh", "-c", "echo gone; touch /marker")
    assert (detached.returncode, detached.stdout) == (0, b"")
    assert _berth(berthd, "exec", "c1", "sh", "-c", "sleep 1; ls /marker").stdout == b"/marker\n"
    stopped = _berth(berthd, "exec", "nosuch", "true")
    assert stopped.returncode == 1
    assert stopped.stderr == b"Error response from daemon: No such container: nosuch\n"


def test_berth_exec_it_on_a_terminal(berthd: Berthd) -> None:
    _running(berthd)
    term = Terminal(
        [str(BIN / "berth"), "-H", f"unix://{berthd.socket}", "exec", "-it", "c1", "sh"],
        {**_berth_env(), "TERM": "xterm"}, rows=25, cols=70,
    )  # fmt: skip
    try:
        term.expect(b"# ")
        term.send(b"stty size\r")
        term.expect(b"25 70\r\n")
        term.send(b"exit 5\r")
        assert term.wait() == 5
    finally:
        term.close()
