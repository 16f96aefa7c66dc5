"""The docker CLI (or berth's) on a pseudo-terminal, as a user at a terminal drives it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time

from ..fixtures.berthd import BIN, Berthd

CTRL_P_CTRL_Q = b"\x10\x11"
#: Prints the terminal's size at each Enter. Not at a shell prompt: busybox's line editor
#: redraws on SIGWINCH and asks the terminal where its cursor is, eating keys typed then.
SIZE_ON_ENTER = "while read line; do stty size; done"
#: A guard against a hang, not a measure of speed.
EXPECT_TIMEOUT_S = 60.0


class Terminal:
    """One client process with a pty as its stdin, stdout and stderr."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80):
        self.master, slave = os.openpty()
        set_size(slave, rows, cols)
        try:
            self.process = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        self.seen = b""

    def send(self, data: bytes) -> None:
        """Type `data` once the client has put the terminal in raw mode, as a user sees a
        prompt before typing: a key typed earlier goes through the cooked line discipline
        (Enter becomes "\\n", and the kernel passes a NUL after a line still pending when
        the mode changes), which no engine can undo."""
        self.wait_raw()
        os.write(self.master, data)

    def wait_raw(self, timeout: float = EXPECT_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ICANON:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the client never made the terminal raw: {self.seen!r}")
            time.sleep(0.01)

    def expect(self, text: bytes, timeout: float = EXPECT_TIMEOUT_S) -> bytes:
        """Read until `text` has been printed; what was printed up to its end."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never printed; printed: {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the client is gone and closed its side
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{text!r} never printed; printed: {self.seen!r}")
                self.seen += chunk
        end = self.seen.index(text) + len(text)
        printed, self.seen = self.seen[:end], self.seen[end:]
        return printed

    def resize(self, rows: int, cols: int) -> None:
        """What a terminal emulator does when its window changes size."""
        set_size(self.master, rows, cols)
        self.process.send_signal(signal.SIGWINCH)

    def wait(self, timeout: float = EXPECT_TIMEOUT_S) -> int:
        """The client's exit code, reading what it prints meanwhile (a full pty would
        block it)."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):  # EIO once the client is gone
                    self.seen += os.read(self.master, 65536)
        code = self.process.wait(max(deadline - time.monotonic(), 0.1))
        # What it printed last may still be in the pty when it is seen gone.
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: all read
                break
            if not chunk:
                break
            self.seen += chunk
        return code

    def shows_size(self, rows: int, cols: int) -> None:
        """Enter, under SIZE_ON_ENTER, until the container's terminal has this size: a
        resize travels apart from the keys typed after it (as with dockerd)."""
        wanted = f"{rows} {cols}".encode()
        deadline = time.monotonic() + EXPECT_TIMEOUT_S
        while True:
            self.send(b"\r")
            self.expect(b"\r\n", deadline - time.monotonic())  # the Enter, echoed
            if self.expect(b"\r\n", deadline - time.monotonic()).strip() == wanted:
                return
            # The window's size again, as a window manager tells it at each change: the
            # docker CLI listens for SIGWINCH only once the container has started, and
            # one sent before (a fast runtime's container already answers) is lost.
            time.sleep(0.05)
            self.process.send_signal(signal.SIGWINCH)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def echoes(self, word: str) -> None:
        """Type `echo` of `word` (quoted, so that the command echoed back is not `word`)
        and read the output."""
        half = len(word) // 2
        self.send(f"echo {word[:half]}''{word[half:]}\r".encode())
        self.expect(f"\n{word}\r\n".encode())

    def detach(self, keys: bytes = CTRL_P_CTRL_Q, *, attached: bool = True) -> None:
        """Type the detach keys; the client ends as the docker CLI does: 0 for `run`,
        1 and "read escape sequence" for `attach`."""
        self.send(keys)
        assert self.wait() == (1 if attached else 0), self.seen
        if attached:
            assert b"read escape sequence" in self.seen, self.seen

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def docker_terminal(daemon: Berthd, *args: str, rows: int = 24, cols: int = 80) -> Terminal:
    env = {**daemon.docker_env(), "TERM": "xterm"}
    return Terminal(daemon.docker_argv(*args), env, rows, cols)


def berth_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BERTH_HOST", "BERTH_ROOT")}
    env["BERTH_ROOT"] = "/nonexistent/berth-remote-test"  # remote mode only
    return {**env, "TERM": "xterm"}


def berth_terminal(daemon: Berthd, *args: str, rows: int = 24, cols: int = 80) -> Terminal:
    argv = [str(BIN / "berth"), "-H", f"unix://{daemon.socket}", *args]
    return Terminal(argv, berth_env(), rows, cols)


def berth_piped(daemon: Berthd, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """berth's CLI with `stdin` piped in (no terminal)."""
    argv = [str(BIN / "berth"), "-H", f"unix://{daemon.socket}", *args]
    return subprocess.run(
        argv, input=stdin, capture_output=True, timeout=120, check=False, env=berth_env()
    )


def docker_piped(daemon: Berthd, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """The docker CLI with `stdin` piped in (no terminal)."""
    return subprocess.run(
        daemon.docker_argv(*args),
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        env=daemon.docker_env(),
    )
