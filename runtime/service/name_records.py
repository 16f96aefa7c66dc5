"""The name server's records follow the log (ADR/0039).

After every save of this engine (and at least every `POLL_S`, for a write of another
process), the records of every user-defined network are computed again from the
containers' views (domain/network_names.py) and those that changed are published; a
network left with no running container is withdrawn, and with the last one the server
stops. A refresh is the whole state, not a step, so there is nothing to resume after a
crash: `run` refreshes first, adopting the server a killed berthd left running.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from berth.adapters.dns.protocol import NameService
from berth.domain.container import ContainerState as S
from berth.domain.errors import BerthError
from berth.domain.network_names import NetworkRecords, network_records

from ..store.integrity import DamagedEvent
from ..store.postgres import STORE_RETRY_S, store_unavailable
from .changes import Changes
from .engine import Engine

log = logging.getLogger(__name__)
WITH_PROCESS = frozenset({S.STARTING, S.RUNNING, S.PAUSED, S.STOPPING})
POLL_S = 1.0
FINAL_REFRESH_S = 2.0


class NameRecords:
    def __init__(self, engine: Engine, service: NameService, changes: Changes) -> None:
        self.engine = engine
        self.service = service
        self.changes = changes
        self.position = 0  # of the log, as of the last refresh
        self.reported = ""  # the last failure said

    def wanted(self) -> dict[str, NetworkRecords]:
        self.position = self.engine.catch_up()
        # Only those with a process (or about to have one): a root's exited containers
        # are not read at every save.
        rows = self.engine.views.container_rows_in(WITH_PROCESS)
        return network_records(row["doc"] for row in rows)

    async def refresh(self) -> None:
        wanted = await trio.to_thread.run_sync(self.wanted)
        published = self.service.published()
        for network_id, records in wanted.items():
            if published.get(network_id) != records:
                try:
                    await self.service.publish(records)
                except BerthError as error:  # one network's failure spares the others
                    log.warning("names of network %s: %s", network_id[:12], error)
        for network_id in published.keys() - wanted.keys():
            await self.service.withdraw(network_id)

    async def next_refresh(self) -> None:
        """`refresh` after the log's next change (at least every POLL_S)."""
        # A save during the refresh woke no one: look at the log's head first. (A burst of
        # saves, a compose up, is so one refresh per refresh time.)
        head = await trio.to_thread.run_sync(self.engine.store.max_position)
        if head == self.position:
            await self.changes.wait(POLL_S)
        await self.refresh()

    async def guarded(self, step: Callable[[], Awaitable[None]]) -> None:
        """`step`; what fails it without ending berthd leaves the records as they were: a
        fleet's store away is waited for, a log damaged under berthd is said by the
        views' follower (host.py), any other refusal is said once."""
        try:
            await step()
        except DamagedEvent:
            pass
        except Exception as error:
            unavailable = store_unavailable(error)
            if unavailable is not None:
                log.warning("names: %s", unavailable.message)
                await trio.sleep(STORE_RETRY_S)
            elif isinstance(error, BerthError):
                if error.message != self.reported:
                    log.error("names not refreshed: %s", error.message)
                    self.reported = error.message
            else:
                raise

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh now and after each change of the log, until cancelled (the server
        keeps running)."""
        await self.guarded(self.refresh)
        task_status.started()
        try:
            while True:
                await self.guarded(self.next_refresh)
        finally:
            # A clean shutdown right after the last container went leaves no server.
            with trio.CancelScope(shield=True), trio.move_on_after(FINAL_REFRESH_S):
                await self.guarded(self.refresh)
