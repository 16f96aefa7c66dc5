"""The fakes together stand in for the world: the service runs containers on them without
root, and a FakeClock holds a restart's back-off until the test moves time on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from berth.adapters.runc import StartFailure
from berth.domain.cause import Actor, ActorKind
from berth.domain.container.restart import restart_delay_ms
from berth.domain.errors import BerthError, Conflict
from berth.runtime.service.engine import Engine
from berth.runtime.service.images import ImageService
from berth.runtime.service.network_files import BridgeSettings, default_bridge_name
from berth.runtime.service.networking import ContainerNetworks
from berth.runtime.service.runner import Runner

from ..fixtures.images import make_image
from ..fixtures.layers import Dir, File, Symlink, make_layer
from .clock import FakeClock
from .content import FakeContent
from .dns import FakeNameService
from .network import FakeForwarders, FakeLinks
from .registry import FakeRegistry
from .runtime import FakeRuntime
from .snapshots import FakeSnapshots

API = Actor(ActorKind.API, uid=1000, pid=4242)
IMAGE = make_image(
    [
        make_layer(
            {
                "bin/": Dir(),
                "bin/busybox": File(b"", mode=0o755),
                "bin/sh": Symlink("busybox"),
                "bin/sleep": Symlink("busybox"),
                "etc/": Dir(),
                "etc/passwd": File(b"root:x:0:0:root:/root:/bin/sh\n"),
                "etc/group": File(b"root:x:0:\n"),
            }
        )
    ]
)


@dataclass
class World:
    engine: Engine
    runtime: FakeRuntime
    forwarders: FakeForwarders
    runner: Runner

    def events(self, container_id: str) -> list[str]:
        return [event.name for event in self.engine.history(container_id)]

    async def run(self, *cmd: str, **extra: object) -> str:
        body = {"Image": f"{IMAGE_REF}", "Cmd": list(cmd), **extra}
        created = await self.runner.create(body, None, API)
        await self.runner.start(created.id, API)
        return created.id


IMAGE_REF = "registry.fake:5000/library/tiny:latest"


async def until(holds: Callable[[], bool]) -> None:
    """Until `holds()`, by checkpoints only: trio's clock is the test's to move."""
    deadline = time.monotonic() + 20  # real time: a guard against a test that hangs
    while not holds():
        assert time.monotonic() < deadline, "never came true"
        await trio.sleep(0)


def _next_deadline() -> float:
    return trio.lowlevel.current_statistics().seconds_to_next_deadline


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    root = tmp_path / "berth"
    content = FakeContent()
    registry = FakeRegistry(content)
    registry.push("library/tiny", IMAGE)
    with Engine(root, clock=clock) as engine:
        snapshots = FakeSnapshots(root / "snapshots")
        images = ImageService(engine, registry, content=content, snapshots=snapshots)
        await images.pull(IMAGE_REF, API)
        runtime, forwarders = FakeRuntime(clock=clock), FakeForwarders()
        networks = ContainerNetworks(
            engine,
            FakeLinks(),
            forwarders,
            BridgeSettings(bridge=default_bridge_name(root)),
            container_dir=lambda container_id: root / "containers" / container_id,
        )
        async with trio.open_nursery() as nursery:
            runner = Runner(
                engine,
                images,
                runtime,
                daemon=True,
                networks=networks,
                name_service=FakeNameService(),
            )
            await nursery.start(runner.serve)
            yield World(engine, runtime, forwarders, runner)
            nursery.cancel_scope.cancel()


async def test_a_container_runs_and_its_exit_is_recorded(world: World) -> None:
    container_id = await world.run("sleep", "100")
    assert world.events(container_id)[-1] == "Started"
    world.runtime.exit(container_id, 7)
    await until(lambda: "Exited" in world.events(container_id))
    assert world.engine.get_aggregate(container_id).exit_code == 7


async def test_the_restart_policy_waits_for_its_back_off_on_the_fake_clock(
    world: World, clock: FakeClock
) -> None:
    policy = {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}
    container_id = await world.run("sh", "-c", "exit 3", HostConfig=policy)
    for scheduled, back_off in enumerate((0.1, 0.2), 1):  # dockerd's: 100 ms, doubling
        await until(lambda n=scheduled: world.events(container_id).count("RestartScheduled") == n)
        # The reactor's timer, once it sleeps, is the earliest sleeper.
        await until(lambda b=back_off: _next_deadline() <= b + 1e-9)
        assert await clock.next_wake() == pytest.approx(back_off)
        after_scheduled = world.events(container_id)[::-1]
        after_scheduled = after_scheduled[: after_scheduled.index("RestartScheduled")]
        assert "StartRequested" not in after_scheduled  # the back-off holds the start
        clock.advance(back_off)
    await until(lambda: world.events(container_id).count("Exited") == 3)
    events = world.events(container_id)
    assert (events.count("Started"), events.count("RestartScheduled")) == (3, 2)
    assert restart_delay_ms(world.engine.get_aggregate(container_id)) is None  # the limit


async def test_a_command_the_image_lacks_fails_with_127_and_auto_remove_removes(
    world: World,
) -> None:
    body = {"Image": IMAGE_REF, "Cmd": ["nonexistent"], "HostConfig": {"AutoRemove": True}}
    created = await world.runner.create(body, None, API)
    with pytest.raises(StartFailure, match="executable file not found"):
        await world.runner.start(created.id, API)
    events = world.events(created.id)
    assert events[-1] == "Removed" and "StartFailed" in events
    assert world.runtime.container_ids() == set()


async def test_a_published_port_taken_by_another_program_is_dockers_error(
    world: World,
) -> None:
    world.forwarders.occupy(8080)
    body = {
        "Image": IMAGE_REF,
        "Cmd": ["sleep", "100"],
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
    }
    created = await world.runner.create(body, None, API)
    with pytest.raises(Exception, match="port is already allocated"):
        await world.runner.start(created.id, API)
    assert world.events(created.id)[-1] == "StartFailed"


async def test_a_lost_monitor_is_an_unknown_exit_once_the_process_ends(world: World) -> None:
    container_id = await world.run("sleep", "100")
    world.runtime.lose_monitor(container_id)
    await until(lambda: container_id in world.runtime.followed)  # the watcher follows it
    assert world.events(container_id)[-1] == "Started"  # its process still runs
    await world.runtime.kill(container_id, "KILL")
    await until(lambda: world.events(container_id)[-1] != "Started")
    container = world.engine.get_aggregate(container_id)
    assert container.pid == 0 and "ExitCodeUnknown" in world.events(container_id)


async def test_an_exit_the_policy_restarts_is_restarting_at_once_and_rm_is_refused(
    world: World, clock: FakeClock
) -> None:
    """The back-off is held by the fake clock: the state is read from the recorded
    RestartScheduled, never from timing."""
    container_id = await world.run("sleep", "100", HostConfig={"RestartPolicy": {"Name": "always"}})
    world.runtime.exit(container_id, 3)
    await until(lambda: "Exited" in world.events(container_id))
    log = {event.name: event for event in world.engine.history(container_id)}
    exited, scheduled = log["Exited"], log["RestartScheduled"]
    # One write: the exit never shows as `exited`, when an rm would have succeeded.
    assert exited.data["correlation_id"] == scheduled.data["correlation_id"]
    state = world.engine.inspect_container(container_id)["State"]
    assert (state["Status"], state["Restarting"], state["Running"]) == ("restarting", True, True)
    assert state["ExitCode"] == 3
    (entry,) = world.engine.list_containers()
    assert entry["Status"].startswith("Restarting (3) ")
    with pytest.raises(Conflict, match=f"You cannot remove a restarting container {container_id}"):
        await world.runner.remove(container_id, API)
    await world.runner.remove(container_id, API, force=True)


async def test_a_sigkill_answers_once_the_exit_is_recorded(world: World) -> None:
    container_id = await world.run("sleep", "100")
    await world.runner.kill(container_id, API, "KILL")
    state = world.engine.inspect_container(container_id)["State"]
    assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, 137)
    await world.runner.remove(container_id, API)


async def test_an_update_sets_the_live_cgroup_then_records_it(world: World) -> None:
    container_id = await world.run("sleep", "100")
    await world.runner.update(container_id, {"Memory": 64 << 20, "CpuShares": 512}, API)
    limits = world.runtime.containers[container_id].resources
    assert limits["memory"]["limit"] == 64 << 20 and limits["cpu"]["shares"] == 512
    assert world.events(container_id)[-1] == "Updated"
    assert world.engine.inspect_container(container_id)["HostConfig"]["Memory"] == 64 << 20
    # The kernel's refusal (a limit below the usage) records nothing.
    world.runtime.faults.inject("update", BerthError("unable to set memory limit"))
    with pytest.raises(BerthError, match=f"^Cannot update container {container_id}: unable"):
        await world.runner.update(container_id, {"Memory": 8 << 20}, API)
    assert world.events(container_id).count("Updated") == 1
    assert world.engine.inspect_container(container_id)["HostConfig"]["Memory"] == 64 << 20


async def test_the_runtime_and_the_mount_are_cleared_after_removed_is_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    last_event_when_deleted: dict[str, str] = {}
    delete = world.runtime.delete

    async def noting_delete(container_id: str, force: bool = False) -> None:
        if world.runtime.knows(container_id):
            last_event_when_deleted[container_id] = world.events(container_id)[-1]
        await delete(container_id, force)

    monkeypatch.setattr(world.runtime, "delete", noting_delete)
    auto = await world.run("sleep", "100", HostConfig={"AutoRemove": True})
    forced = await world.run("sleep", "100")
    world.runtime.exit(auto, 0)
    await world.runner.remove(forced, API, force=True)
    # An explicit rm answers once its leftovers are cleared; an auto-remove before.
    assert not world.runner.container_dir(forced).exists()
    assert forced not in world.runtime.container_ids()
    await until(lambda: "Removed" in world.events(auto))

    await until(lambda: world.runtime.container_ids() == set())
    assert last_event_when_deleted == {auto: "Removed", forced: "Removed"}
    snapshots = world.runner.actions.images.snapshots
    homes = [world.runner.container_dir(c) for c in (auto, forced)]
    await until(lambda: snapshots.containers() == [] and not any(h.exists() for h in homes))
