"""Three hosts on one PostgreSQL log (three roots, three host ids): per-host names, views
and reactors, the fleet projection, each host's reactor positions (ADR/0043)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from berth.runtime.dashboard.metrics import Metrics
from berth.runtime.dashboard.routes import Dashboard
from berth.runtime.service.engine import Engine
from berth.runtime.store.positions import positions_of
from berth.runtime.views import audit_search, trail
from berth.runtime.views.docker_events import Bound, EventFilters, stream_events
from berth.runtime.views.fleet import host_of

from ..conftest import API, SteppingClock, seed_busybox

HOSTS = ("host-1", "host-2", "host-3")
PER_HOST = 4


@pytest.fixture
def fleet(tmp_path: Path, postgres_url: str) -> Iterator[list[Engine]]:
    with ExitStack() as stack:
        engines = [
            stack.enter_context(
                Engine(tmp_path / host, clock=SteppingClock(), store_url=postgres_url, host_id=host)
            )
            for host in HOSTS
        ]
        for engine in engines:
            seed_busybox(engine)
        yield engines


def create_everywhere_at_once(engines: list[Engine]) -> None:
    """Each host creates "/web" and more containers, all hosts at the same time."""
    failures: list[BaseException] = []

    def create(engine: Engine) -> None:
        try:
            for n in range(PER_HOST):
                name = "web" if n == 0 else f"app{n}"
                engine.create_container({"Image": "busybox"}, name, API)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=create, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_each_host_lists_its_own_containers_and_the_fleet_lists_all(
    fleet: list[Engine],
) -> None:
    create_everywhere_at_once(fleet)
    for engine in fleet:
        names = sorted(e["Names"][0] for e in engine.list_containers(all=True))
        # "/web" on three hosts is three names, none of them in conflict.
        assert names == ["/app1", "/app2", "/app3", "/web"]
    listed = fleet[0].list_fleet()
    assert Counter(e["Host"] for e in listed) == dict.fromkeys(HOSTS, PER_HOST)
    assert {e["Host"] for e in fleet[2].list_fleet("host-2")} == {"host-2"}
    web_ids = {e["Id"] for e in listed if e["Names"] == ["/web"]}
    assert len(web_ids) == 3
    # `history` and `inspect --at` of another host's container, by its id.
    other = next(e["Id"] for e in listed if e["Host"] == "host-3")
    head = f"#{fleet[0].store.max_position()}"
    assert trail.document_at_moment(fleet[0], other, head, fleet[0].now())["Id"] == other
    assert trail.container_history(fleet[0], other)[0]["action"] == "Created"


def test_the_fleet_lists_a_host_s_containers_as_the_host_does_with_its_name_last(
    fleet: list[Engine],
) -> None:
    create_everywhere_at_once(fleet)
    own = fleet[1].list_containers(all=True)
    fleet[1].rename(own[0]["Id"], "renamed", API)  # seen by the other hosts too
    own = fleet[1].list_containers(all=True)
    assert own[0]["Names"] == ["/renamed"]
    for engine in (fleet[0], fleet[1]):
        listed = engine.list_fleet("host-2")
        assert all(list(entry)[-1] == "Host" for entry in listed)
        assert [{k: v for k, v in e.items() if k != "Host"} for e in listed] == own


def test_every_event_names_its_host_in_its_actor(fleet: list[Engine]) -> None:
    create_everywhere_at_once(fleet)
    events = fleet[0].store.read_log(0, limit=10_000)
    assert {host_of(e) for e in events} == set(HOSTS)
    for engine in fleet:
        for entry in engine.list_containers(all=True):
            assert {host_of(e) for e in engine.history(entry["Id"])} == {engine.host_id}


def test_a_host_that_starts_again_resumes_from_its_own_positions(
    tmp_path: Path, postgres_url: str
) -> None:
    for host, position in (("host-1", 5), ("host-2", 9)):
        with Engine(tmp_path / host, store_url=postgres_url, host_id=host) as engine:
            positions = positions_of(engine.store)
            positions.put("container-reactor", position)
    with Engine(tmp_path / "host-1", store_url=postgres_url, host_id="host-1") as engine:
        assert positions_of(engine.store).get("container-reactor") == 5
    with Engine(tmp_path / "host-3", store_url=postgres_url, host_id="host-3") as engine:
        assert positions_of(engine.store).get("container-reactor") is None


def test_the_audit_trail_of_one_host_or_all(fleet: list[Engine]) -> None:
    create_everywhere_at_once(fleet)
    engine = fleet[0]

    def audited(host: str) -> Counter[str]:
        found = audit_search.search(
            engine,
            engine.root,
            engine.now(),
            "json",
            filters={"host": [host], "action": ["create"]},
        )
        return Counter(json.loads(entry)["actor"]["host"] for entry in found)

    assert audited("host-2") == {"host-2": PER_HOST}
    assert audited("all") == dict.fromkeys(HOSTS, PER_HOST)


def test_the_metrics_label_the_fleet_containers_by_host(fleet: list[Engine]) -> None:
    create_everywhere_at_once(fleet)
    fleet[1].catch_up()
    scraped = Metrics(fleet[1]).render().decode()
    for host in HOSTS:
        assert f'berth_fleet_containers{{host="{host}",state="created"}} {PER_HOST}.0' in scraped


def test_the_dashboard_shows_the_fleet_and_any_host_s_containers(fleet: list[Engine]) -> None:
    create_everywhere_at_once(fleet)
    dashboard = Dashboard(fleet[0], Metrics(fleet[0]))
    fleet[0].catch_up()
    overview = dashboard.fleet()
    assert overview["host"] == "host-1"
    assert overview["hosts"] == {host: {"created": PER_HOST} for host in HOSTS}
    shown = dashboard.containers("host-3")["containers"]
    assert sorted(c["name"] for c in shown) == ["app1", "app2", "app3", "web"]
    assert {c["id"] for c in shown}.isdisjoint(
        {c["id"] for c in dashboard.containers()["containers"]}
    )


async def test_events_of_this_host_or_of_the_fleet(fleet: list[Engine]) -> None:
    create_everywhere_at_once(fleet)
    until = Bound(position=fleet[0].store.max_position())

    async def hosts_of_creates(fleet_wide: bool) -> Counter[str]:
        found: Counter[str] = Counter()
        async for message in stream_events(
            fleet[1], Bound(position=0), until, EventFilters(), fleet=fleet_wide
        ):
            if message["Type"] == "container" and message["Action"] == "create":
                found[message.get("Host", "own")] += 1
        return found

    assert await hosts_of_creates(False) == {"own": PER_HOST}
    assert await hosts_of_creates(True) == dict.fromkeys(HOSTS, PER_HOST)
