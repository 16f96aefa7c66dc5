"""How a command reports the engine's answers and ends, without click: the fast path
(cli/fast.py) and the click commands (cli/session.py's daemon_errors) share it, so both
print the same words and end with the same codes.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from berth.domain.errors import BerthError

from .client.http import DaemonError, DaemonUnreachable


class ExitWith(Exception):
    """An error already reported, with the exit code the command must end with."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def echo(text: object = "", err: bool = False) -> None:
    """A line on stdout (or stderr), flushed as click.echo does: streams stay in order."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


def report(error: DaemonError) -> None:
    echo(f"Error response from daemon: {error.message}", err=True)


@contextmanager
def reported(engine_code: int = 1) -> Iterator[None]:
    """An engine's error printed as docker prints it, then ExitWith: 1, or `engine_code`
    (run's 125). An answer that there was nothing to do (304) is no error."""
    try:
        yield
    except DaemonUnreachable as error:
        echo(error, err=True)
        raise ExitWith(engine_code) from None
    except DaemonError as error:
        if error.status == 304:  # already started, already stopped: nothing to do
            return
        report(error)
        raise ExitWith(engine_code) from None
    except KeyboardInterrupt:  # Ctrl-C on a follow (events, logs -f): no traceback
        raise ExitWith(130) from None
    except BerthError as refused:  # the client's own checks (--cidfile, -m, ...)
        echo(f"Error: {refused.message}", err=True)
        raise ExitWith(engine_code) from None


def each_ref(refs: tuple[str, ...], act: Callable[[str], object], echo_ref: bool = True) -> None:
    """Act on every ref as docker does: report each failure, go on, exit 1 if any failed."""
    failed = False
    for ref in refs:
        try:
            act(ref)
        except DaemonError as error:
            if error.status != 304:
                report(error)
                failed = True
                continue
        if echo_ref:
            echo(ref)
    if failed:
        raise ExitWith(1)


def answers(path: str) -> bool:
    """Whether something accepts connections on the unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True
