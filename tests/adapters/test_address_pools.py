"""The host-wide lock over taking a subnet (adapters/network/address_pools.py)."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import trio

from berth.adapters.network.address_pools import address_pools_held

HOLD_IN_ANOTHER_PROCESS = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
print("releasing", flush=True)
fcntl.flock(fd, fcntl.LOCK_UN)
"""


async def test_a_second_holder_waits_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "pools.lock"
    order: list[str] = []

    async def second() -> None:
        async with address_pools_held(lock):
            order.append("second")

    async with trio.open_nursery() as nursery, address_pools_held(lock):
        nursery.start_soon(second)
        await trio.sleep(0.3)
        order.append("first done")
    assert order == ["first done", "second"]


async def test_another_process_holding_it_keeps_this_one_waiting(tmp_path: Path) -> None:
    lock = tmp_path / "run" / "pools.lock"
    lock.parent.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_ANOTHER_PROCESS, str(lock), "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        async with address_pools_held(lock):
            # The holder says it releases it just before it does: by now, it has said so.
            assert select.select([holder.stdout], [], [], 0)[0], "taken while held"
            assert holder.stdout.readline() == "releasing\n"
    finally:
        holder.kill()
        holder.wait()


async def test_a_killed_holder_leaves_it_free(tmp_path: Path) -> None:
    lock = tmp_path / "pools.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_ANOTHER_PROCESS, str(lock), "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    with trio.fail_after(10):  # a hang's bound, not a timing
        async with address_pools_held(lock):
            pass
