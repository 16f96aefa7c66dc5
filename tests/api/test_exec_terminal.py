"""`docker exec -it` and `berth exec` on a pseudo-terminal and with piped stdin: type a
command, read its output, resize the window, exit with a code, detach."""

from __future__ import annotations

from .berth_cli import berth
from .conftest import Berthd
from .terminal import SIZE_ON_ENTER, berth_piped, berth_terminal, docker_piped, docker_terminal


def _running(berthd: Berthd) -> None:
    run = berthd.docker("run", "-d", "--name", "c1", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr


def test_docker_exec_it_shell_and_exit_code(berthd: Berthd) -> None:
    _running(berthd)
    with docker_terminal(berthd, "exec", "-it", "c1", "sh") as term:
        term.expect(b"# ")
        term.echoes("typed")
        term.send(b"exit 3\r")
        assert term.wait() == 3


def test_docker_exec_it_has_the_windows_size_and_follows_it(berthd: Berthd) -> None:
    _running(berthd)
    with docker_terminal(berthd, "exec", "-it", "c1", "sh", "-c", SIZE_ON_ENTER,
                         rows=30, cols=90) as term:  # fmt: skip
        term.shows_size(30, 90)  # set before the process started (ConsoleSize, resize)
        term.resize(40, 120)
        term.shows_size(40, 120)


def test_docker_exec_it_detaches_with_the_keys_and_the_process_runs_on(berthd: Berthd) -> None:
    _running(berthd)
    with docker_terminal(berthd, "exec", "-it", "c1", "sh") as term:
        term.expect(b"# ")  # the client's terminal is raw by now: ctrl-q is no XON
        term.send(b"sleep 301\r")
        term.expect(b"sleep 301\r\n")
        # The docker CLI's own word and code for a detach of exec or attach (with
        # dockerd too: it is the client that reads the keys first).
        term.detach()
    assert "sleep 301" in berthd.docker("exec", "c1", "/bin/busybox", "ps").stdout


def test_docker_exec_i_pipes_stdin(berthd: Berthd) -> None:
    _running(berthd)
    echoed = docker_piped(berthd, "exec", "-i", "c1", "sh", "-c", "cat; exit 4", stdin=b"data\n")
    assert (echoed.returncode, echoed.stdout) == (4, b"data\n"), echoed.stderr


def test_berth_exec_flags_stdin_detach_and_exit_code(berthd: Berthd) -> None:
    _running(berthd)
    assert berth(berthd, "exec", "c1", "sh", "-c", "exit 7").returncode == 7
    both = berth(berthd, "exec", "-e", "A=1", "-w", "/etc", "c1", "sh", "-c",
                 'echo "$A $PWD"; echo err >&2')  # fmt: skip
    assert (both.returncode, both.stdout, both.stderr) == (0, "1 /etc\n", "err\n")
    assert berth(berthd, "exec", "-u", "1000", "c1", "id", "-u").stdout == "1000\n"
    piped = berth_piped(berthd, "exec", "-i", "c1", "cat", stdin=b"piped\n")
    assert piped.stdout == b"piped\n"
    missing = berth(berthd, "exec", "c1", "nosuchbinary")
    assert missing.returncode == 126 and "executable file not found" in missing.stdout
    detached = berth(berthd, "exec", "-d", "c1", "sh", "-c", "echo gone; touch /marker")
    assert (detached.returncode, detached.stdout) == (0, "")
    assert berth(berthd, "exec", "c1", "sh", "-c", "sleep 1; ls /marker").stdout == "/marker\n"
    unknown = berth(berthd, "exec", "nosuch", "true")
    assert unknown.returncode == 1
    assert unknown.stderr == "Error response from daemon: No such container: nosuch\n"


def test_berth_exec_it_on_a_terminal(berthd: Berthd) -> None:
    _running(berthd)
    with berth_terminal(berthd, "exec", "-it", "c1", "sh", "-c", SIZE_ON_ENTER,
                        rows=25, cols=70) as term:  # fmt: skip
        term.shows_size(25, 70)
        term.resize(33, 99)
        term.shows_size(33, 99)
        term.detach()
