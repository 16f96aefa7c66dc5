"""Wakes the tasks that wait for the log to change.

The engine tells `saved` every position it appends and what it saved, from whichever
worker thread saved it; waiters (a reactor, a `docker wait`, a stop waiting for the exit)
sleep in `wait` until then, with a timeout as their safety net. The health checks wake
only for saves of a container with a health check (`current_probed`): a compose project's
start saves ~80 times, and each look at the running containers is a worker thread's query.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import trio

from berth.domain.aggregate import StrIdAggregate
from berth.domain.container import Container


class Changes:
    def __init__(self) -> None:
        self._event = trio.Event()
        self._probed = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None

    def attach(self) -> None:
        """Bind to the running trio loop (saves come from threads)."""
        self._token = trio.lowlevel.current_trio_token()

    def saved(self, position: int, aggregates: Sequence[StrIdAggregate] = ()) -> None:
        probed = any(isinstance(a, Container) and a.config.get("Healthcheck") for a in aggregates)
        if self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):  # a save after the loop ended
                self._token.run_sync_soon(self.poke, probed)

    def poke(self, probed: bool = True) -> None:
        self._event.set()
        self._event = trio.Event()
        if probed:
            self._probed.set()
            self._probed = trio.Event()

    def current_probed(self) -> trio.Event:
        """As `current`, set only by a change to a container with a health check."""
        return self._probed

    def current(self) -> trio.Event:
        """What the next poke sets: taken before a waiter looks at the log and waited on
        after (`wait(..., since=)`), it misses no change saved in between."""
        return self._event

    async def wait(self, timeout: float, since: trio.Event | None = None) -> None:
        with trio.move_on_after(timeout):
            await (self._event if since is None else since).wait()
