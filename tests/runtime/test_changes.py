"""Changes (service/changes.py): a change saved between a waiter's look at the log and its
wait is not missed (the reactor once slept through one until its poll's timeout)."""

from __future__ import annotations

import math

import trio

from berth.runtime.service.changes import Changes


async def test_a_poke_between_looking_and_waiting_is_not_missed() -> None:
    changes = Changes()
    seen = changes.current()
    changes.poke()  # saved while the waiter was reading the log
    with trio.fail_after(5):
        await changes.wait(math.inf, since=seen)

