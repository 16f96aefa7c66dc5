"""An engine that ends mid-work, on the fakes: the next one's reactor resumes the intents
past its tracked position, and reconcile records what happened while no engine ran."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from berth.domain.cause import ActorKind
from berth.runtime.service.engine import Engine
from berth.runtime.service.images import ImageService
from berth.runtime.service.network_files import BridgeSettings, default_bridge_name
from berth.runtime.service.networking import ContainerNetworks
from berth.runtime.service.runner import Runner
from berth.runtime.store.positions import Positions

from .clock import FakeClock
from .content import FakeContent
from .dns import FakeNameService
from .network import FakeForwarders, FakeLinks
from .registry import FakeRegistry
from .runtime import FakeRuntime
from .snapshots import FakeSnapshots
from .test_fakes_run_the_service import API, IMAGE, IMAGE_REF, until


class Host:
    """The world outside the engine (it outlives every engine), and engines on one root
    that can be started and ended, as berthd by SIGKILL: nothing runs after the end."""

    def __init__(self, root: Path, store_url: str | None = None) -> None:
        self.root = root
        self.store_url = store_url  # a fleet's PostgreSQL store, as host "host-1"
        self.clock = FakeClock()
        self.content = FakeContent()
        self.registry = FakeRegistry(self.content)
        self.registry.push("library/tiny", IMAGE)
        self.runtime = FakeRuntime(clock=self.clock)
        self.links, self.forwarders = FakeLinks(), FakeForwarders()

    @asynccontextmanager
    async def engine(self, serving: bool = True) -> AsyncIterator[tuple[Engine, Runner]]:
        with Engine(
            self.root, clock=self.clock, store_url=self.store_url, host_id="host-1"
        ) as engine:
            snapshots = FakeSnapshots(self.root / "snapshots")
            images = ImageService(engine, self.registry, content=self.content, snapshots=snapshots)
            networks = ContainerNetworks(
                engine,
                self.links,
                self.forwarders,
                BridgeSettings(bridge=default_bridge_name(self.root)),
                container_dir=lambda container_id: self.root / "containers" / container_id,
            )
            runner = Runner(
                engine,
                images,
                self.runtime,
                daemon=True,
                networks=networks,
                name_service=FakeNameService(),
            )
            async with trio.open_nursery() as nursery:
                if serving:
                    await nursery.start(runner.serve)
                yield engine, runner
                nursery.cancel_scope.cancel()  # the end: no clean-up runs


def names(engine: Engine, container_id: str) -> list[str]:
    return [event.name for event in engine.history(container_id)]


async def created_and_started(host: Host, prepare: Callable[[Runner], Awaitable[str]]) -> str:
    async with host.engine() as (_engine, runner):
        await runner.images.pull(IMAGE_REF, API)
        return await prepare(runner)


async def test_an_intent_recorded_just_before_the_end_is_carried_out_by_the_next_engine(
    tmp_path: Path,
) -> None:
    host = Host(tmp_path / "berth")

    async def create(runner: Runner) -> str:
        body = {"Image": IMAGE_REF, "Cmd": ["sleep", "100"]}
        return (await runner.create(body, None, API)).id

    container_id = await created_and_started(host, create)
    # The intent is in the log, and the engine ends before its reactor acts on it.
    async with host.engine(serving=False) as (engine, _runner):
        engine.start(container_id, API)
        intent = engine.store.max_position()
        positions = Positions(engine.store.db_path)
        assert positions.get("containers") is not None
        assert positions.get("containers") < intent  # type: ignore[operator]
        positions.close()
    assert not host.runtime.knows(container_id)
    async with host.engine() as (engine, runner):
        await runner.reactor.wait_acted(intent)
        assert names(engine, container_id)[-1] == "Started"
        assert host.runtime.knows(container_id)
        assert engine.get_aggregate(container_id).pid != 0
    # ... and a third engine finds nothing left to do: the position was saved past it.
    async with host.engine() as (engine, runner):
        started = names(engine, container_id).count("Started")
        await runner.reactor.wait_acted(engine.store.max_position())
        assert names(engine, container_id).count("Started") == started == 1


async def test_an_exit_while_no_engine_ran_is_recorded_with_its_status_by_reconcile(
    tmp_path: Path,
) -> None:
    host = Host(tmp_path / "berth")

    async def run(runner: Runner) -> str:
        body = {"Image": IMAGE_REF, "Cmd": ["sleep", "100"], "HostConfig": {"AutoRemove": True}}
        created = await runner.create(body, None, API)
        await runner.start(created.id, API)
        return created.id

    container_id = await created_and_started(host, run)
    host.runtime.exit(container_id, 5)  # while no engine runs: the monitor keeps the status
    async with host.engine() as (engine, _runner):
        await until(lambda: "Removed" in names(engine, container_id))
        events = [e for e in engine.history(container_id) if e.name == "Exited"]
        assert [e.data["exit_code"] for e in events] == [5]
        assert events[0].data["actor"].kind is ActorKind.RECONCILE
        # and auto-remove followed it, clearing the runtime after the answer
        await until(lambda: not host.runtime.knows(container_id))
