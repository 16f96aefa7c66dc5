"""Docker's event stream from the durable log: actions, attributes, bounds, filters, resume."""

from __future__ import annotations

from datetime import timedelta

from berth.runtime.api.routes_events import parse_bound
from berth.runtime.service.engine import Engine
from berth.runtime.views.docker_events import EventFilters, stream_events

from ..conftest import API


async def collect(
    engine: Engine, since: str | None, until: str | None, **filters: list[str]
) -> list[dict]:  # type: ignore[type-arg]
    bounds = parse_bound("since", since), parse_bound("until", until)
    return [m async for m in stream_events(engine, *bounds, EventFilters(filters))]


def scripted(engine: Engine) -> str:
    cid = engine.create_container({"Image": "busybox", "Labels": {"tier": "web"}}, "web", API).id
    engine.start(cid, API)
    engine.record(cid, lambda c, k: c.mark_started(9, k.at, k), API)
    engine.rename(cid, "front", API)
    engine.stop(cid, API)
    engine.record(cid, lambda c, k: c.mark_exited(143, False, k.at, k), API)
    engine.remove(cid, API)
    return cid


async def test_container_events_in_dockers_shape(engine: Engine) -> None:
    cid = scripted(engine)
    end = engine.history(cid)[-1].timestamp + timedelta(seconds=1)
    messages = await collect(engine, "0", str(end.timestamp()), type=["container"])
    assert [m["Action"] for m in messages] == [
        "create",
        "start",
        "rename",
        "die",
        "stop",
        "destroy",
    ]
    create = messages[0]
    assert create["status"] == "create" and create["id"] == cid and create["from"] == "busybox"
    assert create["Actor"]["Attributes"] == {"tier": "web", "image": "busybox", "name": "web"}
    assert messages[2]["Actor"]["Attributes"]["oldName"] == "web"
    assert messages[3]["Actor"]["Attributes"]["exitCode"] == "143"
    assert messages[5]["Actor"]["Attributes"]["name"] == "front"
    assert all(m["scope"] == "local" and m["time"] == m["timeNano"] // 10**9 for m in messages)


async def test_since_until_filters_and_resume_by_position(engine: Engine) -> None:
    cid = scripted(engine)
    history = engine.history(cid)
    end = str((history[-1].timestamp + timedelta(seconds=1)).timestamp())
    images = await collect(engine, "0", end, type=["image"])
    assert [m["Action"] for m in images] == ["load"]
    dies = await collect(engine, "0", end, event=["die"])
    assert [m["Action"] for m in dies] == ["die"]
    by_label = await collect(engine, "0", end, label=["tier=web"])
    assert len(by_label) == 6
    assert await collect(engine, "0", end, label=["tier=db"]) == []
    # Resume after the rename: exactly what came later, nothing twice.
    renamed = next(e for e in history if e.name == "Renamed")
    rest = await collect(engine, f"#{renamed.position}", end, type=["container"])
    assert [m["Action"] for m in rest] == ["die", "stop", "destroy"]
    # A time window: since the stop request's time, until the exit's.
    stop = next(e for e in history if e.name == "StopRequested")
    window = await collect(engine, str(stop.timestamp.timestamp()), end, type=["container"])
    assert [m["Action"] for m in window] == ["die", "stop", "destroy"]


async def test_oom_precedes_die_and_restart_follows_the_start_it_made(engine: Engine) -> None:
    cid = engine.create_container({"Image": "busybox"}, "web", API).id
    engine.start(cid, API)
    engine.record(cid, lambda c, k: c.mark_started(9, k.at, k), API)
    engine.record(cid, lambda c, k: c.mark_exited(137, True, k.at, k), API)
    engine.restart(cid, API)
    engine.record(cid, lambda c, k: c.mark_started(10, k.at, k), API)
    engine.update(cid, {"Memory": 64 << 20}, API)
    end = engine.history(cid)[-1].timestamp + timedelta(seconds=1)
    messages = await collect(engine, "0", str(end.timestamp()), type=["container"])
    actions = [m["Action"] for m in messages]
    assert actions == ["create", "start", "oom", "die", "start", "restart", "update"]
    assert messages[2]["Actor"]["Attributes"] == {"image": "busybox", "name": "web"}
    assert messages[3]["Actor"]["Attributes"]["exitCode"] == "137"


async def test_dockers_other_filters_match_an_actors_id_or_name_by_its_start(
    engine: Engine,
) -> None:
    """moby's fuzzyMatchName, for network, daemon, plugin, node, service, secret and config;
    `scope` is every event's "local"."""
    cid = scripted(engine)
    end = str((engine.history(cid)[-1].timestamp + timedelta(seconds=1)).timestamp())
    everything = await collect(engine, "0", end)
    assert len(await collect(engine, "0", end, scope=["local"])) == len(everything)
    assert await collect(engine, "0", end, scope=["swarm"]) == []
    by_name = await collect(engine, "0", end, network=["fro"])  # the container, renamed
    assert [m["Action"] for m in by_name] == ["rename", "die", "stop", "destroy"]
    # Every event of the container (its id begins so), as the first test lists them.
    by_id = await collect(engine, "0", end, plugin=[cid[:8]])
    assert by_id == await collect(engine, "0", end, type=["container"])
    assert await collect(engine, "0", end, service=["nothing"]) == []
