"""A reactor: follows the log from its tracked position and acts on the events it wants.

Events are acted on one aggregate at a time and in log order (each aggregate has its own
worker task), different aggregates at once. The tracked position is the one just below
the oldest event not yet fully acted on: it is saved as it moves (store/positions.py),
so after a crash the reactor resumes there and sees again every event it may not have
finished. Its actions are idempotent: each looks at the aggregate as it is now and does
only what is still to do.

An action may keep its event in flight beyond its own return (`hold`, `release`) — a
restart's back-off, say — and may queue more work for its aggregate (`submit`). Whoever
appended an event can wait for the reactor to have acted on it (`wait_acted`) and gets
the action's error, if it failed.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from berth.domain.errors import BerthError

from ..store.events import EventStore, LoggedEvent
from ..store.positions import ReactorPositions
from ..store.postgres import STORE_RETRY_S, store_unavailable
from .changes import Changes

log = logging.getLogger(__name__)
BATCH = 500
#: Besides being woken by every save of this engine, the reactor looks at the log this
#: often (a write of another process, say a `berth` command renaming a container).
POLL_S = 1.0
#: How many failed actions are kept for waiters that have not yet asked.
KEPT_ERRORS = 1000

Job = Callable[[], Awaitable[None]]


@dataclass
class _Worker:
    pending: collections.deque[tuple[int, LoggedEvent | Job]] = field(
        default_factory=collections.deque
    )


class Reactor:
    def __init__(
        self,
        name: str,
        store: EventStore,
        positions: ReactorPositions,
        changes: Changes,
        act: Callable[[LoggedEvent], Awaitable[None]],
        wants: Callable[[LoggedEvent], bool],
    ) -> None:
        self.name = name
        self._store = store
        self._positions = positions
        self._changes = changes
        self._act = act
        self._wants = wants
        self._read = 0  # the last position read from the log
        self._saved = 0
        self._in_flight: collections.Counter[int] = collections.Counter()
        self._workers: dict[str, _Worker] = {}
        self._acted: dict[int, trio.Event] = {}
        self._errors: dict[int, BaseException] = {}
        self._nursery: trio.Nursery | None = None
        self.started = trio.Event()

    # Running -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """From the saved position (the log's head the first time) until cancelled."""
        saved = await trio.to_thread.run_sync(self._positions.get, self.name)
        if saved is None:
            saved = await trio.to_thread.run_sync(self._store.max_position)
            await trio.to_thread.run_sync(self._positions.put, self.name, saved)
        self._read = self._saved = saved
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.started.set()
            task_status.started()
            while True:
                seen = self._changes.current()
                try:
                    batch = await self._follow()
                except Exception as error:
                    # A fleet's store away: read again from the same place once it is back.
                    unavailable = store_unavailable(error)
                    if unavailable is None:
                        raise
                    log.warning("%s: %s", self.name, unavailable.message)
                    await trio.sleep(STORE_RETRY_S)
                    continue
                if len(batch) < BATCH:
                    await self._changes.wait(POLL_S, since=seen)

    async def _follow(self) -> list[LoggedEvent]:
        """Queue (or pass) the next batch of the log; save the position at its head."""
        batch = await trio.to_thread.run_sync(self._store.read_log, self._read, BATCH)
        for event in batch:
            self._read = event.position
            if self._wants(event):
                self._store.seen(event)  # its action must not load an older copy
                self._queue(event.originator_id, event.position, event)
            else:
                self._wake(event.position)
        if len(batch) < BATCH:
            await self._save()
        return batch

    def _queue(self, key: str, position: int, work: LoggedEvent | Job) -> None:
        self._in_flight[position] += 1
        worker = self._workers.get(key)
        if worker is None:
            worker = self._workers[key] = _Worker()
            assert self._nursery is not None
            self._nursery.start_soon(self._work, key, worker)
        worker.pending.append((position, work))

    async def _work(self, key: str, worker: _Worker) -> None:
        while worker.pending:
            position, work = worker.pending.popleft()
            try:
                await self._act_through_outages(work)
            except BerthError as error:
                self._failed(position, error)
                log.warning("%s: %s: %s", self.name, key[:12], error.message)
            except Exception as error:
                self._failed(position, error)
                log.exception("%s: acting on %s at position %d failed", self.name, key, position)
            finally:
                self.release(position)
        del self._workers[key]

    async def _act_through_outages(self, work: LoggedEvent | Job) -> None:
        """Act; while a fleet's store is away, act again once it answers (an action
        begins by loading what it acts on, so nothing was done)."""
        while True:
            try:
                await (work() if callable(work) else self._act(work))
                return
            except Exception as error:
                unavailable = store_unavailable(error)
                if unavailable is None or isinstance(error, BerthError):
                    raise
                log.warning("%s: %s", self.name, unavailable.message)
                await trio.sleep(STORE_RETRY_S)

    # What actions may do -------------------------------------------------------------------

    def hold(self, position: int) -> None:
        """Keep `position` in flight after its action returns, until `release`."""
        self._in_flight[position] += 1

    def release(self, position: int) -> None:
        self._in_flight[position] -= 1
        if self._in_flight[position] <= 0:
            del self._in_flight[position]
            self._wake(position)

    def spawn(self, task: Job) -> None:
        """Run `task` beside the workers (a wait that must not hold up the queue)."""
        assert self._nursery is not None
        self._nursery.start_soon(task)

    def submit(self, key: str, position: int, job: Job) -> None:
        """Queue `job` behind the aggregate's other work, as part of `position`'s action."""
        self._queue(key, position, job)

    # Waiting for an action -----------------------------------------------------------------

    def saved_position(self) -> int | None:
        """The position saved as fully acted on (None before the reactor runs); safe to
        read from another thread."""
        return self._saved if self.started.is_set() else None

    def acted(self, position: int) -> bool:
        return position <= self._read and position not in self._in_flight

    async def wait_acted(self, position: int) -> None:
        """Until the reactor has acted on the event at `position`; its error, if it failed."""
        await self.started.wait()
        while not self.acted(position):
            event = self._acted.setdefault(position, trio.Event())
            self._changes.poke()  # it may not have read that far yet
            await event.wait()
        error = self._errors.pop(position, None)
        if error is not None:
            raise error

    def _failed(self, position: int, error: BaseException) -> None:
        if len(self._errors) >= KEPT_ERRORS:
            self._errors.pop(next(iter(self._errors)))
        self._errors[position] = error

    def _wake(self, position: int) -> None:
        waiting = self._acted.pop(position, None)
        if waiting is not None:
            waiting.set()

    async def _save(self) -> None:
        """Save the position below the oldest event still in flight, if it moved."""
        position = min(self._in_flight) - 1 if self._in_flight else self._read
        if position != self._saved:
            await trio.to_thread.run_sync(self._positions.put, self.name, position)
            self._saved = position
