"""A clock that moves only when a test says so: trio's sleeps and the wall time together.

Pass it to a test as a fixture and pytest-trio runs the test with it as trio's clock, so
`trio.sleep` (a restart's back-off, a stop's timeout) ends only when `advance()` moves
the time past it; give the same clock to the engine and the fakes (`clock=`) and every
time they record moves with it. `next_wake()` answers when the next sleeper is due, once
one sleeps: moving time on before a task has begun its sleep would not wake it.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import trio
import trio.testing

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
#: Real seconds `next_wake` waits for a sleeper before it gives up (a test that hangs).
GUARD_S = 20.0


class FakeClock(trio.abc.Clock):
    """trio.testing.MockClock (at rate 0) plus the wall time it stands for."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self._mock = trio.testing.MockClock()

    # trio.abc.Clock, for trio.run
    def start_clock(self) -> None:
        self._mock.start_clock()

    def current_time(self) -> float:
        return self._mock.current_time()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return self._mock.deadline_to_sleep_time(deadline)

    # the wall clock, for the engine's events and the fakes' times
    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._mock.current_time())

    def __call__(self) -> datetime:
        return self.now()

    def advance(self, seconds: float) -> None:
        """Move time forward; sleeps that end by then wake at the next checkpoint."""
        self._mock.jump(seconds)

    async def next_wake(self) -> float:
        """Seconds until the earliest sleeping task is due, once one sleeps that is not
        due yet (waiting by checkpoints only, so that worker threads can finish what
        leads to the sleep, and tasks already due wake first)."""
        guard = time.monotonic() + GUARD_S
        while True:
            wait = trio.lowlevel.current_statistics().seconds_to_next_deadline
            if 0 < wait < math.inf:
                return wait
            assert time.monotonic() < guard, "no task went to sleep"
            await trio.sleep(0)
