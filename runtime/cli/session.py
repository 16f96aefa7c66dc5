"""Which engine a `berth` command talks to, and how the engine's answers are reported.

-H (or BERTH_HOST) names a berthd. Without it, a command talks to whoever serves --root:
the berthd that holds it, or another `berth` command serving its own engine there (the
socket is in the root's lock file, ADR/0021). When nobody does, the command starts its own
engine in this process — berthd's host, on a private socket under the root
(cli/own_engine.py) — and talks to it through the same client. So every command has one
body, a client of the API (ADR/0024).

Nothing here imports trio, eventsourcing or rich: `berth -H ... run` must start fast
(ADR/0015); the engine is imported only when a command starts its own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import click

from berth.domain.errors import BerthError, NotFound

from .client.http import DaemonClient, DaemonError, DaemonUnreachable
from .outcome import ExitWith, answers, each_ref, report, reported

if TYPE_CHECKING:
    from berth.adapters.rootlock import Holder

__all__ = ["Access", "ExitWith", "connect", "daemon_errors", "each_ref", "find_daemon", "report"]

ROOT_WAIT_STEP_S = 0.2


class Access(Enum):
    """What a command needs of the root when it has to start its own engine."""

    #: Records or acts: holds the root (reconciling first), and waits for another `berth`
    #: command that holds it but does not answer (yet, or any more).
    ACT = "act"
    #: `ps`: reconciles when nobody holds the root; else lists what the log says, at once.
    LIST = "list"
    #: Reads the log only: never holds the root, never waits.
    READ = "read"


@contextmanager
def daemon_errors(ctx: click.Context, engine_code: int = 1) -> Iterator[None]:
    """Print an engine's error as docker does and exit: 1, or `engine_code` (run's 125)."""
    try:
        with reported(engine_code):
            yield
    except ExitWith as done:
        ctx.exit(done.code)


def api_time(text: str | None) -> str | None:
    """`--since`/`--until` as the API takes them: unix seconds (a duration like docker's
    `10m` is taken back from now, here, and a time without a zone is local, as the docker
    CLI reads them), or a `#POSITION` as it is."""
    if not text or text.startswith("#"):
        return text
    from berth.domain.timestamps import unix_seconds

    from .times import user_time

    return unix_seconds(user_time(text))


def _holder(root: Path) -> tuple[Holder | None, str | None]:
    """Who holds the root, and the host URL of its socket if it answers."""
    from berth.adapters.rootlock import RootLock

    holder = RootLock(root).holder()
    if holder is not None and holder.socket and answers(holder.socket):
        return holder, f"unix://{holder.socket}"
    return holder, None


class RootFinder:
    """Finds who serves --root, starting this command's own engine when nobody does."""

    def __init__(
        self, ctx: click.Context, access: Access, insecure: tuple[str, ...], examines_log: bool
    ) -> None:
        self.ctx = ctx
        self.root: Path = ctx.obj["root"]
        self.access = access
        self.insecure = insecure
        self.examines_log = examines_log

    def find(self) -> str:
        told = False
        while True:
            holder, serving = _holder(self.root)
            if serving is not None:
                return serving
            if holder is not None and holder.pid == os.getpid():  # this command's engine died
                raise DaemonUnreachable(f"unix://{holder.socket}")
            if holder is None or self.access is not Access.ACT:
                started = self._own_engine(acting=holder is None and self.access is not Access.READ)
                if started is not None:
                    return started
            elif not told:
                click.echo(f"waiting for {holder.describe()} to answer", err=True)
                told = True
            time.sleep(ROOT_WAIT_STEP_S)

    def _own_engine(self, acting: bool) -> str | None:
        """This command's own engine on the root; None if another process took the root
        meanwhile (then it is looked for again)."""
        from .own_engine import start_own_engine

        from_env = os.environ.get("BERTH_INSECURE_REGISTRIES", "").split(",")
        try:
            engine = start_own_engine(
                self.root,
                acting=acting,
                insecure=tuple(h for h in (*from_env, *self.insecure) if h),
                # A log that fails verification is what `audit verify` examines.
                ignore_log_verification=self.examines_log
                or bool(self.ctx.obj.get("ignore_log_verification")),
                store=self.ctx.obj.get("store"),
                host_id=self.ctx.obj.get("host_id", ""),
            )
        except BerthError as error:  # the log does not verify, the disk is full, ...
            raise DaemonError(error.http_status, error.message) from None
        if engine is None:
            return None
        self.ctx.call_on_close(engine.stop)
        if engine.serving.read_only is not None and not self.examines_log:
            click.echo(f"warning: {engine.serving.read_only.message}", err=True)
        return f"unix://{engine.serving.socket}"


class RootClient(DaemonClient):
    """A client of whoever serves --root. A command's own engine ends with its command:
    when the one this client talked to has gone, whoever serves the root now is found."""

    def __init__(self, finder: RootFinder) -> None:
        self.finder = finder
        super().__init__(finder.find())

    def open_socket(self) -> socket.socket:
        try:
            return super().open_socket()
        except DaemonUnreachable:
            self.host = self.finder.find()
            self.path = self.host.removeprefix("unix://")
            return super().open_socket()

    def may_resend(self, reused: bool) -> bool:
        # An engine that ended took its socket along, and read no request it did not answer.
        return reused or not os.path.exists(self.path)


def connect(
    ctx: click.Context,
    access: Access = Access.ACT,
    *,
    insecure: tuple[str, ...] = (),
    examines_log: bool = False,
) -> DaemonClient:
    """The client of the engine the command talks to (one per command).

    `examines_log`: the command checks the log itself (`audit verify`): a root without one
    is an error, and no root is made for it.
    """
    top = ctx.find_root()
    found: DaemonClient | None = top.obj.get("client")
    if found is not None:
        return found
    host: str | None = top.obj.get("host")
    if host:
        found = DaemonClient(host)
    else:
        db_path = top.obj["root"] / "events.db"
        # A fleet's store, or a berthd serving the root (whose log may be a fleet's).
        asked_elsewhere = (
            top.obj.get("store") is not None or _holder(top.obj["root"])[1] is not None
        )
        if examines_log and not asked_elsewhere and not db_path.is_file():
            raise NotFound(f"no event log at {db_path}")
        found = RootClient(RootFinder(top, access, insecure, examines_log))
    top.obj["client"] = found
    top.call_on_close(found.close)
    return found


def find_daemon(ctx: click.Context) -> DaemonClient | None:
    """The berthd named by -H, or whoever serves --root; None rather than an own engine."""
    top = ctx.find_root()
    host: str | None = top.obj.get("host") or _holder(top.obj["root"])[1]
    return DaemonClient(host) if host else None
