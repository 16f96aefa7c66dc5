"""Fixtures shared by the runtime tests: an engine on a fresh root with one image."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from berth.domain.cause import Actor, ActorKind
from berth.runtime.service.engine import Engine
from berth.runtime.store.events import EventStore

# The suite runs in three workers on a shared machine: how fast hypothesis draws inputs, or
# how long one example takes, says nothing about berth (speed lives in bench/).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

pytest_plugins = ["tests.fixtures.registry", "tests.fixtures.berthd", "tests.fixtures.postgres"]

API = Actor(ActorKind.API, uid=1000, pid=4242)
ENGINE_ACTOR = Actor(ActorKind.ENGINE)

BUSYBOX_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-09-26T21:31:42Z",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
}


def image_id_of(config: dict[str, object]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


BUSYBOX_ID = image_id_of(BUSYBOX_CONFIG)


class SteppingClock:
    """A clock that advances one second per reading, so every event has its own time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def seed_busybox(engine: Engine) -> None:
    engine.images.record_loaded(
        BUSYBOX_ID,
        BUSYBOX_CONFIG,
        [
            {
                "digest": "sha256:" + "2" * 64,
                "diff_id": "sha256:" + "1" * 64,
                "size": 10,
                "media_type": "application/vnd.oci.image.layer.v1.tar",
            }
        ],
        10,
        ["busybox:latest"],
        ENGINE_ACTOR,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "berth"


@pytest.fixture
def engine(root: Path) -> Iterator[Engine]:
    with Engine(root, clock=SteppingClock()) as engine:
        seed_busybox(engine)
        yield engine


@pytest.fixture(autouse=True)
def no_network_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that made berth roots under its tmp_path: no namespace, veth or
    forwarder of theirs is left, and their bridges (which outlive containers, as
    docker0) are removed."""
    if "tmp_path" not in request.fixturenames:
        yield
        return
    # Asked for before the test, so it is torn down after this fixture.
    tmp_path: Path = request.getfixturevalue("tmp_path")
    yield
    from .fixtures.network import network_leftovers, remove_bridge_sync

    roots = [db.parent for db in tmp_path.glob("*/events.db")]
    roots += [db.parent for db in tmp_path.glob("*/*/events.db")]
    left = []
    for berth_root in roots:
        left += network_leftovers(berth_root, bridge_too=False)
        remove_bridge_sync(berth_root)
    assert left == []


@pytest.fixture
def store(tmp_path: Path, store_url: str | None) -> Iterator[EventStore]:
    """An empty event store on each backend in turn, written as host "host-a"."""
    opened = EventStore(tmp_path / "events.db", url=store_url, host_id="host-a")
    yield opened
    opened.close()
