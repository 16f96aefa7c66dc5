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

from ..fixtures.berthd import BIN, DOCKER, Berthd

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
        os.write(self.master, data)

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
        return self.process.wait(max(deadline - time.monotonic(), 0.1))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def docker_terminal(daemon: Berthd, *args: str, rows: int = 24, cols: int = 80) -> Terminal:
    env = {**os.environ, "DOCKER_CONFIG": str(daemon.docker_config), "TERM": "xterm"}
    env.pop("DOCKER_HOST", None)
    return Terminal([DOCKER, "-H", f"unix://{daemon.socket}", *args], env, rows, cols)


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
    env = {**os.environ, "DOCKER_CONFIG": str(daemon.docker_config)}
    env.pop("DOCKER_HOST", None)
    return subprocess.run(
        [DOCKER, "-H", f"unix://{daemon.socket}", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )
