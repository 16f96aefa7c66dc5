"""A container cannot freeze berthd through the files berthd reads from it.

At every start berthd reads the container's /etc/passwd and /etc/group (user lookup). A
container replaces its own /etc/passwd on a first run, then is started again: the start
fails with a message naming the file, or succeeds when the file is a link resolved inside
the root; either way at once, and berthd keeps answering.
"""

from __future__ import annotations

import pytest

from .berth_cli import eventually
from .conftest import Berthd

START_TIMEOUT = 60  # a frozen berthd never answers: the subprocess times out instead
UNREADABLE = "cannot read /etc/passwd of the container: it is "


def ping(daemon: Berthd) -> bytes:
    with daemon.connect() as sock:
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer.split(b"\r\n", 1)[0].split(b" ")[1]


@pytest.mark.parametrize(
    ("script", "refusal"),
    [
        ("busybox rm /etc/passwd; busybox mkfifo /etc/passwd", "a FIFO"),
        ("busybox rm /etc/passwd; busybox mknod /etc/passwd c 5 0", "a character device"),
        ("busybox mknod /tty c 5 0; busybox ln -sf /tty /etc/passwd", "a character device"),
        ("busybox mkfifo /fifo; busybox ln -sf /fifo /etc/passwd", "a FIFO"),
        ("dd if=/dev/zero of=/etc/passwd bs=1M seek=100 count=0", "larger than 1048576 bytes"),
    ],
)
def test_a_hostile_passwd_fails_the_start_and_berthd_keeps_answering(
    berthd: Berthd, script: str, refusal: str
) -> None:
    first = berthd.docker(
        "run", "--user", "root", "--name", "hostile", "busybox", "sh", "-ec", script
    )
    assert first.returncode == 0, first.stderr
    again = berthd.docker("start", "hostile", timeout=START_TIMEOUT)
    assert again.returncode != 0
    assert UNREADABLE + refusal in again.stderr
    assert ping(berthd) == b"200"
    state = berthd.docker("inspect", "--format", "{{.State.Status}}", "hostile")
    assert state.stdout.strip() == "exited", state.stderr


@pytest.mark.parametrize("target", ["/proc/self/status", "/dev/zero", "../../../../etc/shadow"])
def test_a_passwd_linked_out_of_the_root_reads_nothing_of_the_host(
    berthd: Berthd, target: str
) -> None:
    """The link is resolved inside the container's root, where its target does not exist:
    the file is missing, so a named user cannot be found and a numeric one runs."""
    script = f"busybox ln -sf {target} /etc/passwd"
    first = berthd.docker(
        "run", "--user", "root", "--name", "linked", "busybox", "sh", "-ec", script
    )
    assert first.returncode == 0, first.stderr
    again = berthd.docker("start", "linked", timeout=START_TIMEOUT)
    assert again.returncode != 0
    assert "unable to find user root: no matching entries in passwd file" in again.stderr
    numeric = berthd.docker("run", "--rm", "--user", "0", "busybox", "true")
    assert numeric.returncode == 0, numeric.stderr
    assert ping(berthd) == b"200"


def test_a_passwd_linked_inside_the_root_is_followed_there(berthd: Berthd) -> None:
    """As dockerd (FollowSymlinkInScope): an absolute link target is taken in the root."""
    script = (
        "if [ ! -L /etc/passwd ]; then busybox mv /etc/passwd /srv-passwd; "
        "busybox ln -s /srv-passwd /etc/passwd; fi; id -un"
    )
    first = berthd.docker(
        "run", "--user", "root", "--name", "linked", "busybox", "sh", "-ec", script
    )
    assert (first.returncode, first.stdout) == (0, "root\n"), first.stderr
    # Started again, the user is found through the link, inside the root.
    again = berthd.docker("start", "-a", "linked", timeout=START_TIMEOUT)
    assert (again.returncode, again.stdout) == (0, "root\n"), again.stderr


def test_a_restart_policy_meets_the_fifo_without_freezing_berthd(berthd: Berthd) -> None:
    """No client starts it again: `--restart always` does, as soon as it exits."""
    script = "busybox rm /etc/passwd; busybox mkfifo /etc/passwd"
    run = berthd.docker(
        "run", "-d", "--restart", "always", "--user", "root", "--name", "looping",
        "busybox", "sh", "-ec", script,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr

    def error() -> str:
        shown = berthd.docker("inspect", "--format", "{{.State.Error}}", "looping", timeout=30)
        assert shown.returncode == 0, shown.stderr
        return shown.stdout.strip()

    assert eventually(lambda: error() == UNREADABLE + "a FIFO", timeout=30), error()
    assert ping(berthd) == b"200"
