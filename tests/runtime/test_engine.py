"""The engine against real SQLite files: create, names, lifecycle records, queries."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from berth.domain.container import Container
from berth.domain.container_names import random_name
from berth.domain.errors import Conflict, InvalidParameter, NotFound, NotModified
from berth.runtime.service.engine import Engine
from berth.runtime.views.trail import container_at, container_document_at, find_container_id

from ..conftest import API, BUSYBOX_ID, SteppingClock, seed_busybox

NAME_TAKEN = (
    'Conflict. The container name "/web" is already in use by container "{}". '
    "You have to remove (or rename) that container to be able to reuse that name."
)


def create(engine: Engine, name: str | None = "web", **config: object) -> str:
    return engine.create_container({"Image": "busybox", **config}, name, API).id


def test_create_records_container_and_name_and_answers_from_projection(engine: Engine) -> None:
    before = engine.store.max_position()
    cid = create(engine, Cmd=["echo", "hi"])
    assert engine.store.max_position() == before + 2  # Container.Created + Name.Registered
    (entry,) = engine.list_containers(all=True)
    assert entry["Id"] == cid
    assert entry["Names"] == ["/web"]
    assert entry["Image"] == "busybox"
    assert entry["ImageID"] == BUSYBOX_ID
    assert entry["Command"] == "echo hi"
    assert entry["State"] == "created"
    assert entry["Status"] == "Created"
    assert engine.list_containers() == []  # not running: only with all=True
    doc = engine.inspect_container("web")
    assert doc["Id"] == cid and doc["Name"] == "/web"
    assert doc["Path"] == "echo" and doc["Args"] == ["hi"]
    assert doc["Config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ]
    assert doc["Config"]["Hostname"] == cid[:12]
    assert doc["HostConfig"]["ShmSize"] == 64 * 1024 * 1024
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert doc["HostConfig"]["NetworkMode"] == "bridge"


@pytest.mark.parametrize("mode", ["", "default", "bridge", "none", "host", "container:web"])
def test_builtin_network_modes_are_accepted(engine: Engine, mode: str) -> None:
    if mode.startswith("container:"):
        create(engine)
    create(engine, None, HostConfig={"NetworkMode": mode})


def test_an_unknown_network_is_refused_at_create_and_nothing_written(engine: Engine) -> None:
    before = engine.store.max_position()
    with pytest.raises(NotFound, match=r"^network mynet not found$"):
        create(engine, "web", HostConfig={"NetworkMode": "mynet"})
    assert engine.store.max_position() == before
    assert engine.list_containers(all=True) == []


def test_taken_name_is_refused_with_dockers_409_and_nothing_written(engine: Engine) -> None:
    owner = create(engine)
    before = engine.store.max_position()
    with pytest.raises(Conflict) as raised:
        create(engine)
    assert raised.value.message == NAME_TAKEN.format(owner)
    assert raised.value.http_status == 409
    assert engine.store.max_position() == before
    assert len(engine.list_containers(all=True)) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Env": ["=foo"]}, "invalid environment variable: =foo"),
        ({"WorkingDir": "rel"}, "the working directory 'rel' is invalid"),
        ({"HostConfig": {"Memory": 1024}}, "Minimum memory limit allowed is 6MB"),
        ({"HostConfig": {"RestartPolicy": {"Name": "bogus"}}}, "invalid restart policy"),
        ({"Cmd": 5}, "Cmd"),
    ],
)
def test_invalid_create_writes_nothing_and_leaks_no_name(
    engine: Engine, body: dict[str, object], message: str
) -> None:
    before = engine.store.max_position()
    with pytest.raises(InvalidParameter) as raised:
        create(engine, **body)
    assert message in raised.value.message
    assert raised.value.http_status == 400
    assert engine.store.max_position() == before
    create(engine)  # the name was not taken by the failed attempt


def test_bad_name_and_missing_image(engine: Engine) -> None:
    with pytest.raises(InvalidParameter, match=r"Invalid container name \(-x\)"):
        create(engine, name="-x")
    with pytest.raises(NotFound, match="No such image: nope:latest"):
        engine.create_container({"Image": "nope"}, None, API)


def test_random_names_retry_on_collision(root: Path) -> None:
    # Name draws 0, 0, 5: the second create collides with the first one's name and
    # retries with the next draw, which gets Docker's digit suffix.
    name_draws = iter([0, 0, 5])
    id_draws = (bytes([i]) * 32 for i in itertools.count(0xA0))

    def entropy(n: int) -> bytes:
        return next(id_draws) if n == 32 else next(name_draws).to_bytes(n, "big")

    with Engine(root, entropy=entropy, clock=SteppingClock()) as engine:
        seed_busybox(engine)
        before = engine.store.max_position()
        first = engine.create_container({"Image": "busybox"}, None, API)
        second = engine.create_container({"Image": "busybox"}, None, API)
        names = {e["Id"]: e["Names"][0] for e in engine.list_containers(all=True)}
        assert names[first.id] == "/" + random_name(0)
        assert names[second.id] == "/" + random_name(5, retry=1)
        assert names[second.id][-1].isdigit()
        assert engine.store.max_position() == before + 4  # the collision wrote nothing


def test_lifecycle_records_and_dockers_answers(engine: Engine) -> None:
    cid = create(engine)
    engine.start("web", API)
    with pytest.raises(NotModified):
        engine.start("web", API)
    engine.record(cid, lambda c, k: c.mark_started(77, k.at, k), API)
    engine.pause(cid[:12], API)
    with pytest.raises(Conflict, match="cannot start a paused container"):
        engine.start("web", API)
    with pytest.raises(Conflict, match="You cannot remove a paused container"):
        engine.remove("web", API)
    engine.unpause("web", API)
    engine.stop("web", API)
    engine.record(cid, lambda c, k: c.mark_exited(143, False, k.at, k), API)
    with pytest.raises(
        Conflict, match=f"Cannot kill container: web: Container {cid} is not running"
    ):
        engine.kill("web", API)
    doc = engine.inspect_container("web")
    assert doc["State"]["Status"] == "exited"
    assert doc["State"]["ExitCode"] == 143
    assert engine.list_containers(all=True)[0]["Status"].startswith("Exited (143) ")
    names = [e.name for e in engine.history(cid)]
    assert names == [
        "Created",
        "StartRequested",
        "Started",
        "Paused",
        "Unpaused",
        "StopRequested",
        "Exited",
    ]


def test_rename_moves_the_name_atomically(engine: Engine) -> None:
    cid = create(engine)
    other = create(engine, name="db")
    with pytest.raises(Conflict) as raised:
        engine.rename("web", "db", API)
    assert raised.value.message == NAME_TAKEN.replace("/web", "/db").format(other)
    engine.rename("web", "api", API)
    assert engine.inspect_container("api")["Id"] == cid
    with pytest.raises(NotFound):
        engine.inspect_container("web")
    reused = create(engine, name="web")  # the old name was released in the same save
    assert reused != cid
    renamed = [e for e in engine.history(cid) if e.name == "Renamed"]
    assert [(e.data["old_name"], e.data["new_name"]) for e in renamed] == [("/web", "/api")]


def test_rm_releases_the_name_and_keeps_history(engine: Engine) -> None:
    cid = create(engine)
    engine.remove("web", API)
    assert engine.list_containers(all=True) == []
    with pytest.raises(NotFound, match="No such container: web"):
        engine.inspect_container("web")
    assert [e.name for e in engine.history(cid)] == ["Created", "RemovalRequested", "Removed"]
    assert find_container_id(engine, "web") == cid
    create(engine)


def test_rm_running_needs_force(engine: Engine) -> None:
    cid = create(engine)
    engine.start("web", API)
    engine.record(cid, lambda c, k: c.mark_started(77, k.at, k), API)
    with pytest.raises(Conflict, match="You cannot remove a running container"):
        engine.remove("web", API)
    engine.remove("web", API, force=True)
    assert engine.list_containers(all=True) == []


def test_ambiguous_prefix_and_unknown_ref(engine: Engine) -> None:
    with pytest.raises(NotFound, match="No such container: zzz"):
        engine.start("zzz", API)


def test_32_threads_racing_for_one_name(engine: Engine) -> None:
    barrier = threading.Barrier(32)
    results: list[str] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            cid = create(engine)
            with lock:
                results.append(cid)
        except Exception as error:
            with lock:
                errors.append(error)

    before = engine.store.max_position()
    threads = [threading.Thread(target=attempt) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1
    assert len(errors) == 31
    expected = NAME_TAKEN.format(results[0])
    assert all(isinstance(e, Conflict) and e.message == expected for e in errors)
    # Exactly the winner's Created and Registered: nothing partial from the 31 losers.
    assert engine.store.max_position() == before + 2
    assert [e["Id"] for e in engine.list_containers(all=True)] == results


def test_32_engines_in_threads_racing_for_one_name(root: Path) -> None:
    """As above, with one Engine (own connection pools) per thread, like separate clients."""
    with Engine(root) as first:
        seed_busybox(first)
        before = first.store.max_position()
    engines = [Engine(root) for _ in range(32)]
    barrier = threading.Barrier(32)
    outcomes: list[object] = []

    def attempt(engine: Engine) -> None:
        barrier.wait()
        try:
            outcomes.append(create(engine))
        except Conflict as error:
            outcomes.append(error)

    threads = [threading.Thread(target=attempt, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1 and len(outcomes) == 32
        assert engines[0].store.max_position() == before + 2
    finally:
        for e in engines:
            e.close()


def test_time_travel_by_version_and_time(engine: Engine) -> None:
    cid = create(engine)
    documents = [engine.inspect_container(cid)]
    times = [engine.history(cid)[-1].timestamp]
    steps = [
        lambda: engine.start(cid, API),
        lambda: engine.record(cid, lambda c, k: c.mark_started(9, k.at, k), API),
        lambda: engine.pause(cid, API),
        lambda: engine.rename(cid, "web2", API),
        lambda: engine.unpause(cid, API),
        lambda: engine.stop(cid, API),
        lambda: engine.record(cid, lambda c, k: c.mark_exited(0, False, k.at, k), API),
    ]
    for step in steps:
        step()
        documents.append(engine.inspect_container(cid))
        times.append(engine.history(cid)[-1].timestamp)
    engine.remove(cid, API)
    for version, (document, moment) in enumerate(zip(documents, times, strict=True), start=1):
        assert container_document_at(engine.store, cid, version=version) == document
        assert container_document_at(engine.store, cid, at=moment) == document
        for aggregate in (
            container_at(engine.store, cid, version=version),
            container_at(engine.store, cid, at=moment),
        ):
            assert isinstance(aggregate, Container)
            assert aggregate.version == version
            assert aggregate.state.docker_status == document["State"]["Status"]
            assert aggregate.name == document["Name"]
    assert container_document_at(engine.store, cid, at=times[0].replace(year=2000)) is None
    assert container_at(engine.store, cid, at=times[0].replace(year=2000)) is None


@pytest.mark.parametrize(
    ("stop_timeout", "requested", "waits"),
    [(None, None, 10), (0, None, 0), (3, None, 3), (3, 7, 7), (None, 0, 0)],
)
def test_stop_and_restart_wait_the_containers_stop_timeout_unless_told(
    engine: Engine, stop_timeout: int | None, requested: int | None, waits: int
) -> None:
    """As dockerd: `t` when given, else the container's StopTimeout (0: kill at once)."""
    cid = create(engine, Cmd=["sleep", "30"], StopTimeout=stop_timeout)
    engine.start(cid, API)
    engine.record(cid, lambda c, k: c.mark_started(77, k.at, k), API)
    engine.stop(cid, API, requested)
    engine.record(cid, lambda c, k: c.mark_exited(137, False, k.at, k), API)
    engine.restart(cid, API, requested)
    asked = {e.name: e.data for e in engine.history(cid)}
    assert asked["StopRequested"]["timeout"] == waits
    assert asked["RestartRequested"]["timeout"] == waits
