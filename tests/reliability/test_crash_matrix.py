"""The crash matrix: berthd killed at every named crash point, then started again.

For each point of `berth.runtime.service.faults.POINTS`, berthd runs with `BERTH_CRASH_AT` set to
it; a scenario through the Docker API reaches the point and berthd SIGKILLs itself there.
A new berthd on the same root must then start, and once settled: the hash chain
verifies, every container is what its state says (running ones have a live process;
created, exited and removed ones leave no runc container, monitor, cgroup process,
namespace, veth or forwarder behind; removed ones leave no directory or mount either),
exit codes are true, and no name or address is lost or held twice. What was left half
done must still be usable: the containers start and are removed cleanly.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import pytest

from berth.runtime.service.faults import POINTS

from ..fixtures.berthd import Berthd
from ..fixtures.images import busybox_image
from ..fixtures.registry import RunningRegistry
from ..fixtures.world import in_flight, violations

SETTLE_S = 30
# A process that stops on SIGTERM with a code of its own, so a true exit code shows.
TRAPPED = ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"]
EXITS_3 = ["sh", "-c", "sleep 0.3; exit 3"]
NAMED_VOLUME = "crash-kept"


@dataclass
class World:
    api: docker.APIClient
    registry: RunningRegistry | None = None
    expected_exit: int | None = None


def _running(world: World, command: list[str], **host: Any) -> str:
    cid: str = world.api.create_container(
        "busybox",
        command,
        host_config=world.api.create_host_config(**host),
        ports=[80],
    )["Id"]
    world.api.start(cid)
    return cid


def create(world: World) -> None:
    world.api.create_container(
        "busybox",
        ["sleep", "1000"],
        name="created-one",
        volumes=["/data"],  # an anonymous volume, made and filled by the prepare
        host_config=world.api.create_host_config(tmpfs={"/t": "size=1m"}),
    )


def start(world: World) -> None:
    cid = world.api.create_container(
        "busybox",
        ["sleep", "1000"],
        name="started-one",
        ports=[80],
        host_config=world.api.create_host_config(port_bindings={80: ("127.0.0.1", None)}),
    )["Id"]
    world.api.start(cid)


def stop(world: World) -> None:
    cid = _running(world, TRAPPED)
    world.expected_exit = 7
    world.api.stop(cid, timeout=20)


def kill(world: World) -> None:
    world.api.kill(_running(world, ["sleep", "1000"]), signal="SIGKILL")


def exit_(world: World) -> None:
    _running(world, EXITS_3, auto_remove=True)  # must be gone, whichever exit is first
    cid = _running(world, EXITS_3)
    world.expected_exit = 3
    world.api.wait(cid, timeout=30)


def restart(world: World) -> None:
    cid = _running(world, EXITS_3, restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    world.expected_exit = 3
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the policy's restarts happen without a client
        world.api.inspect_container(cid)
        time.sleep(0.2)


def remove(world: World) -> None:
    cid = _running(
        world,
        ["sleep", "1000"],
        port_bindings={80: ("127.0.0.1", None)},
        binds=[f"{NAMED_VOLUME}:/v", "/anon"],
    )
    world.api.remove_container(cid, force=True, v=True)


def network(world: World) -> None:
    """A user-defined network made, then a running container connected to it."""
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.221.0.0/24")])
    made = world.api.create_network("crashnet", ipam=ipam, check_duplicate=True)
    cid = _running(world, ["sleep", "1000"])
    world.api.connect_container_to_network(cid, made["Id"], aliases=["crashed"])


def pull(world: World) -> None:
    assert world.registry is not None
    for _ in world.api.pull(f"{world.registry.host}/library/busybox", tag="latest", stream=True):
        pass


SCENARIOS: dict[str, Callable[[World], None]] = {
    "create": create,
    "start": start,
    "stop": stop,
    "kill": kill,
    "exit": exit_,
    "restart": restart,
    "remove": remove,
    "network": network,
    "connect": network,
    "pull": pull,
}


def test_every_crash_point_has_a_scenario() -> None:
    assert {point.split(".")[0] for point in POINTS} <= set(SCENARIOS)


def _settle(daemon: Berthd, api: docker.APIClient) -> list[dict[str, Any]]:
    """The containers once nothing is in flight any more (restart policies included)."""
    deadline = time.monotonic() + SETTLE_S
    while in_flight(daemon.root) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [api.inspect_container(c["Id"]) for c in api.containers(all=True)]


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_berthd_killed_at_a_crash_point_comes_back_whole(
    point: str, start_berthd: Callable[..., Berthd], request: pytest.FixtureRequest
) -> None:
    registry: RunningRegistry | None = None
    insecure: tuple[str, ...] = ()
    if point.startswith("pull"):  # the only scenario that needs a registry
        registry = request.getfixturevalue("registry")
        registry.push("library/busybox", busybox_image())
        insecure = (registry.host,)
    crashing = start_berthd(insecure=insecure, env={"BERTH_CRASH_AT": point})
    api = docker.APIClient(base_url=f"unix://{crashing.socket}", version="1.41", timeout=30)
    world = World(api, registry)
    # The daemon dies under a request of the scenario (the client sees a broken connection).
    with contextlib.suppress(Exception):
        SCENARIOS[point.split(".")[0]](world)
    assert crashing.wait_killed() == -signal.SIGKILL, f"{point} was never reached"

    daemon = start_berthd(insecure=insecure)
    api = docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=30)
    docs = _settle(daemon, api)
    found = violations(daemon.root, api)
    assert not found, "\n".join([f"after a crash at {point}:", *found, daemon.log()])
    if world.expected_exit is not None and docs:
        assert [d["State"]["ExitCode"] for d in docs if d["State"]["Status"] == "exited"] in (
            [world.expected_exit],
            [],
        )
    # What was left half done is usable: it starts, and it goes without a trace.
    for doc in docs:
        if doc["State"]["Status"] in ("created", "exited"):
            api.start(doc["Id"])
        api.remove_container(doc["Id"], force=True, v=True)
    volumes = daemon.root / "volumes"
    left = sorted(p.name for p in volumes.iterdir()) if volumes.exists() else []
    assert left in ([], [NAMED_VOLUME]), f"anonymous volumes left after a crash at {point}"
    if registry is not None:
        pull(World(api, registry))
        assert api.inspect_image(f"{registry.host}/library/busybox")["Id"]
    found = violations(daemon.root, api)
    assert not found, "\n".join([f"after removing everything ({point}):", *found])
