"""A container's volume mounts are recorded with its own outcomes (real runc): `Mounted`
in the write of `Started` and before it, `Unmounted` in the write of the exit, and a
mount the exit did not record is undone by the removal, in its write."""

from __future__ import annotations

import pytest
import trio

from berth.domain.volume import volume_id
from berth.runtime.service.container_mounts import mount_points
from berth.runtime.store.events import LoggedEvent

from ..conftest import API
from .conftest import Stack

pytestmark = pytest.mark.slow
VOLUME = "recorded"


def written(stack: Stack, *aggregate_ids: str) -> list[LoggedEvent]:
    return [e for e in stack.engine.store.read_log(0) if e.originator_id in aggregate_ids]


def one_write(*events: LoggedEvent) -> bool:
    """In order in the log, with the one cause of one decision."""
    positions = [e.position for e in events]
    causes = {e.data["correlation_id"] for e in events}
    return positions == sorted(positions) and len(causes) == 1


async def test_mounts_are_recorded_in_the_write_of_the_start_and_of_the_exit(
    stack: Stack,
) -> None:
    host = {"NetworkMode": "none", "Binds": [f"{VOLUME}:/data", f"{VOLUME}:/again:ro"]}
    cid = await stack.run("true", HostConfig=host)
    with trio.fail_after(20):
        assert await stack.runner.wait(cid) == 0
    await stack.runner.remove(cid, API)
    events = written(stack, cid, volume_id(VOLUME))
    names = [(e.aggregate, e.name) for e in events]
    mounted = names.index(("volume", "Mounted"))
    assert names[mounted + 1] == ("container", "Started")
    assert one_write(events[mounted], events[mounted + 1])
    exited = names.index(("container", "Exited"))
    assert names[exited + 1] == ("volume", "Unmounted")
    assert one_write(events[exited], events[exited + 1])
    assert [n for n in names if n[0] == "volume"] == [
        ("volume", n) for n in ("Created", "Referenced", "Mounted", "Unmounted", "Released")
    ]  # named twice, mounted once
    (first, *_) = (p for p in mount_points(stack.engine.get_aggregate(cid)) if p.name == VOLUME)
    assert events[mounted].data["destination"] == first.destination


async def test_a_removal_undoes_a_mount_its_exit_did_not_record(stack: Stack) -> None:
    """As a log written before mounts went with the exit may have it."""
    created = await stack.runner.create(
        stack.body("true", HostConfig={"NetworkMode": "none", "Binds": [f"{VOLUME}:/d"]}),
        None,
        API,
    )
    engine = stack.engine
    engine.record(created.id, lambda c, k: engine.volumes.mounted(c, k), API)
    await stack.runner.remove(created.id, API)
    events = written(stack, created.id, volume_id(VOLUME))
    names = [(e.aggregate, e.name) for e in events][-3:]
    assert names == [("container", "Removed"), ("volume", "Unmounted"), ("volume", "Released")]
    assert one_write(*events[-3:])
    assert engine.volumes.row(VOLUME)["users"] == []
