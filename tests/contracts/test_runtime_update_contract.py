"""`ContainerRuntime.update` (adapters/runc/protocol.py), for the fake and for runc: the
live limits of a running or paused container; NotFound and Conflict as the other verbs."""

from __future__ import annotations

import pytest
import trio

from berth.domain.errors import Conflict, NotFound

from .test_runtime_contract import LONG, Subject, subject  # noqa: F401 (the fixture)

LIMITS = {"memory": {"limit": 64 << 20, "swap": 128 << 20}, "cpu": {"shares": 512}}


async def test_a_running_or_paused_container_takes_new_limits(subject: Subject) -> None:  # noqa: F811
    rt = subject.rt
    cid = await subject.run(LONG)
    await rt.update(cid, LIMITS)
    await rt.pause(cid)
    await rt.update(cid, {"pids": {"limit": 50}})
    assert (await rt.state(cid)).status == "paused"  # type: ignore[union-attr]
    await rt.delete(cid, force=True)


async def test_update_of_a_stopped_or_unknown_container_is_refused(subject: Subject) -> None:  # noqa: F811
    rt = subject.rt
    with pytest.raises(NotFound):
        await rt.update("nothing-here", LIMITS)
    cid = await subject.run(["true"])
    with trio.fail_after(20):
        await rt.wait_exited(cid)
    with pytest.raises(Conflict):
        await rt.update(cid, LIMITS)
    await rt.delete(cid)
