"""One trio lock per key, made on first use and dropped when nobody holds or waits for it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, trio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, trio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(key, None)

    def held(self, key: str) -> bool:
        lock = self._locks.get(key)
        return lock is not None and lock.locked()
