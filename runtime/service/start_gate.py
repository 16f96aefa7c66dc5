"""Attaches that come before the start: they connect between `runc create` and `runc start`.

The docker CLI's `run -i`/`-t` attaches to the created container and only then starts it;
what the container writes first must reach that attach. The monitor's attach socket
exists once the container is created (its process still waiting for `start`), so the
start lets every waiting attach connect first, then starts the process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

#: How long a start waits for the attaches it let in to connect.
CONNECT_WAIT_S = 5.0


@dataclass
class Waiter:
    created: trio.Event = field(default_factory=trio.Event)
    connected: trio.Event = field(default_factory=trio.Event)


class StartGate:
    """The attaches waiting for each container's process to be created."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[Waiter]] = {}

    @asynccontextmanager
    async def waiting(self, container_id: str) -> AsyncIterator[Waiter]:
        """While inside, the container's start waits for this attach: `created` is set
        when it may connect, and the attach sets `connected` once it has (or gave up)."""
        waiter = Waiter()
        self._waiting.setdefault(container_id, []).append(waiter)
        try:
            yield waiter
        finally:
            waiter.connected.set()
            waiters = self._waiting.get(container_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiting.pop(container_id, None)

    async def created(self, container_id: str) -> None:
        """The container's process exists and waits: let the attaches connect."""
        waiters = self._waiting.pop(container_id, [])
        if not waiters:
            return  # the usual start: no deadline set, not even briefly
        for waiter in waiters:
            waiter.created.set()
        with trio.move_on_after(CONNECT_WAIT_S):
            for waiter in waiters:
                await waiter.connected.wait()
