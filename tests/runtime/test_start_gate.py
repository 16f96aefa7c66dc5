"""The start gate: attaches waiting for a container's process connect before it starts."""

from __future__ import annotations

import trio
import trio.testing

from berth.runtime.service.start_gate import CONNECT_WAIT_S, StartGate


async def test_the_start_waits_until_every_waiting_attach_has_connected() -> None:
    gate = StartGate()
    steps: list[str] = []

    async def attach(name: str) -> None:
        async with gate.waiting("c1") as waiter:
            await waiter.created.wait()
            await trio.sleep(0.01 if name == "a" else 0.02)  # connecting
            steps.append(f"{name} connected")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(attach, "a")
        nursery.start_soon(attach, "b")
        await trio.testing.wait_all_tasks_blocked()
        await gate.created("c1")
        steps.append("started")
    assert steps == ["a connected", "b connected", "started"]


async def test_other_containers_and_attaches_that_gave_up_do_not_hold_a_start() -> None:
    gate = StartGate()
    async with gate.waiting("other"):
        with trio.move_on_after(CONNECT_WAIT_S / 2) as nobody_waits:
            await gate.created("c1")
        assert not nobody_waits.cancelled_caught
    async with gate.waiting("c1"):
        pass  # gave up before the start
    with trio.move_on_after(CONNECT_WAIT_S / 2) as given_up:
        await gate.created("c1")
    assert not given_up.cancelled_caught


async def test_an_attach_that_never_connects_holds_the_start_for_a_bounded_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = StartGate()
    clock = trio.lowlevel.current_clock()
    async with gate.waiting("c1") as waiter:
        before = clock.current_time()
        await gate.created("c1")
        assert waiter.created.is_set()
        assert clock.current_time() - before >= CONNECT_WAIT_S
