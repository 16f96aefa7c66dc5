"""A start that finds no space: every step set up is taken down, the answer is a 503
naming the path, and the same container starts once space returns."""

from __future__ import annotations

import pytest
import trio

from berth.domain.container import ContainerState
from berth.domain.errors import DiskFull

from ..conftest import API
from ..fixtures.disk import fill, small_disk
from ..fixtures.network import network_leftovers
from .conftest import Stack, leftovers


async def test_a_start_on_a_full_disk_leaves_nothing_set_up_and_recovers(stack: Stack) -> None:
    """The log has room; the containers' directories (the network files, the bundle,
    conmon's files and the log) do not."""
    containers = stack.root / "containers"
    with small_disk(containers, "1m"):
        container_id = (await stack.runner.create(stack.body("sleep", "30"), "full", API)).id
        try:
            filler = await trio.to_thread.run_sync(fill, containers)
            with pytest.raises(DiskFull) as raised:
                await stack.runner.start(container_id, API)
            assert raised.value.http_status == 503
            assert raised.value.message == (f"no space left on device: {containers / container_id}")
            assert stack.engine.get_aggregate(container_id).state is not ContainerState.RUNNING
            # What a created container has: its root filesystem, and this test's disk.
            assert sorted(leftovers(stack.root)) == [
                f"mount {containers}",
                f"mount {stack.root}/snapshots/containers/{container_id}/merged",
            ]
            assert network_leftovers(stack.root, bridge_too=False) == []
            filler.unlink()
            await stack.runner.start(container_id, API)
            assert stack.engine.get_aggregate(container_id).state is ContainerState.RUNNING
        finally:
            await stack.runner.remove(container_id, API, force=True)
