"""Wakes the tasks that wait for the log to change.

The engine tells `saved` every position it appends and what it saved, from whichever
worker thread saved it; waiters (a reactor, a `docker wait`, a stop waiting for the exit)
sleep in `wait` until then, with a timeout as their safety net. A waiter that cares for
some saves only has a `Changes` of its own, woken by those (`only`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import trio

from berth.domain.aggregate import StrIdAggregate

Saved = Sequence[StrIdAggregate]


class Changes:
    def __init__(self, only: Callable[[Saved], bool] | None = None) -> None:
        self._only = only
        self._event = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None

    def attach(self) -> None:
        """Bind to the running trio loop (saves come from threads)."""
        self._token = trio.lowlevel.current_trio_token()

    def saved(self, position: int, aggregates: Saved = ()) -> None:
        if self._only is not None and not self._only(aggregates):
            return
        if self._token is not None:
            with contextlib.suppress(trio.RunFinishedError):  # a save after the loop ended
                self._token.run_sync_soon(self.poke)

    def poke(self) -> None:
        self._event.set()
        self._event = trio.Event()

    def current(self) -> trio.Event:
        """What the next poke sets: taken before a waiter looks at the log and waited on
        after (`wait(..., since=)`), it misses no change saved in between."""
        return self._event

    async def wait(self, timeout: float, since: trio.Event | None = None) -> None:
        with trio.move_on_after(timeout):
            await (self._event if since is None else since).wait()
