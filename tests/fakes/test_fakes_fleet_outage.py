"""A fleet's store away while a container runs, on the fakes (ADR/0043): its exit, kept by
the monitor, is recorded once PostgreSQL is back, exactly once, by the same engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from ..fixtures.postgres import Cluster
from .test_fakes_resume_after_a_crash import Host, names
from .test_fakes_run_the_service import API, IMAGE_REF, until


async def test_an_exit_while_the_store_is_away_is_recorded_when_it_returns(
    tmp_path: Path, postgres_url: str, postgres_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    host = Host(tmp_path / "berth", store_url=postgres_url)
    async with host.engine() as (engine, runner):
        await runner.images.pull(IMAGE_REF, API)
        created = await runner.create({"Image": IMAGE_REF, "Cmd": ["sleep", "100"]}, None, API)
        await runner.start(created.id, API)
        await runner.reactor.wait_acted(engine.store.max_position())  # its exit is watched
        await trio.to_thread.run_sync(postgres_cluster.stop)
        try:
            host.runtime.exit(created.id, 7)
            # The exit watcher finds the store away, and keeps the exit to record it later.
            await until(lambda: "exited: event store unavailable" in caplog.text)
        finally:
            with trio.CancelScope(shield=True):  # the session's later tests need it back
                await trio.to_thread.run_sync(postgres_cluster.start)
        await until(lambda: "Exited" in names(engine, created.id))
        await trio.sleep(1.5)  # a second record, if any, would be there by now
        exits = [e.data["exit_code"] for e in engine.history(created.id) if e.name == "Exited"]
        assert exits == [7]
