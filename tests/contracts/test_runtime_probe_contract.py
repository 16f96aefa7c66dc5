"""The `ContainerRuntime.probe` contract (a health probe: a short command run in a running
container and waited for), for the fake and for runc under conmon."""

from __future__ import annotations

import pytest
import trio

from berth.domain.errors import Conflict, NotFound

from .test_runtime_contract import LONG, Subject, subject

__all__ = ["subject"]


async def test_a_probe_answers_its_exit_code(subject: Subject) -> None:
    cid = await subject.run(LONG)
    assert (await subject.rt.probe(cid, ["true"], 10, 4096)).exit_code == 0
    assert (await subject.rt.probe(cid, ["sh", "-c", "exit 3"], 10, 4096)).exit_code == 3
    await subject.rt.kill(cid, "SIGKILL")
    await subject.rt.wait_exited(cid)
    await subject.rt.delete(cid)


async def test_a_probe_past_its_timeout_is_killed_and_has_no_exit_code(subject: Subject) -> None:
    cid = await subject.run(LONG)
    with trio.fail_after(30):
        assert (await subject.rt.probe(cid, ["sleep", "100"], 0.3, 4096)).exit_code is None
    await subject.rt.kill(cid, "SIGKILL")
    await subject.rt.wait_exited(cid)
    await subject.rt.delete(cid)


async def test_only_a_running_container_is_probed(subject: Subject) -> None:
    with pytest.raises(NotFound):
        await subject.rt.probe("nobody", ["true"], 10, 4096)
    cid = await subject.run(LONG)
    await subject.rt.pause(cid)
    with pytest.raises(Conflict):
        await subject.rt.probe(cid, ["true"], 10, 4096)
    await subject.rt.kill(cid, "SIGKILL")
    await subject.rt.wait_exited(cid)
    with pytest.raises(Conflict):
        await subject.rt.probe(cid, ["true"], 10, 4096)
    await subject.rt.delete(cid)
