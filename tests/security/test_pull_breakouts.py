"""Every hostile layer of the corpus, pushed to a real registry inside an image and pulled.

A rejected layer fails the pull cleanly: no image event, no layer committed, nothing left
half-unpacked, nothing written outside berth's state; a contained one pulls and shows
exactly what its check says inside the layer.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from berth.adapters.registry import RegistryClient
from berth.domain.errors import InvalidParameter
from berth.runtime.service.engine import Engine
from berth.runtime.service.images import ImageService

from ..conftest import API
from ..fixtures.images import make_image
from ..fixtures.layers import busybox_layer, make_layer
from ..fixtures.registry import RunningRegistry, run_registry
from .corpus import CASES
from .corpus_checks import HOST_SENTINELS, BreakoutCase, populate_outside


def tree_state(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under `root` with its mode and (for files) a hash of its bytes."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            digest = ""
            if path.is_file() and not path.is_symlink():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path.relative_to(root))] = (info.st_mode, digest)
    return state


def host_sentinels() -> dict[str, bytes | None]:
    return {
        p: Path(p).read_bytes() if os.path.lexists(p) and Path(p).is_file() else None
        for p in HOST_SENTINELS
    }


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with run_registry(tmp_path_factory.mktemp("breakout-registry")) as running:
        yield running


@pytest.fixture
async def service(tmp_path: Path, shared_registry: RunningRegistry) -> AsyncIterator[ImageService]:
    with Engine(tmp_path / "berth") as engine:
        images = ImageService(engine)
        async with RegistryClient(images.content, insecure=[shared_registry.host]) as client:
            images.registry = client
            yield images


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_hostile_layer_in_a_pulled_image(
    case: BreakoutCase, service: ImageService, shared_registry: RunningRegistry, tmp_path: Path
) -> None:
    name = "breakout/" + case.name.lower().replace("/", "-").replace("_", "-")
    shared_registry.push(name, make_image([busybox_layer(), make_layer(tar=case.layer)]))
    outside = tmp_path / "outside"
    populate_outside(outside)
    outside_before = tree_state(tmp_path)
    hosts_before = host_sentinels()
    before = service.engine.store.max_position()
    reference = f"{shared_registry.host}/{name}:latest"
    if case.expect == "reject":
        with pytest.raises(InvalidParameter):
            await service.pull(reference, API)
        assert service.engine.store.max_position() == before
        assert service.engine.images.list_entries() == []
        assert len(service.snapshots.layers()) <= 1  # at most the busybox layer
    else:
        image_id = await service.pull(reference, API)
        chain = service.image_chain(image_id)
        case.check(service.snapshots.layer_dir(chain[-1]), outside)
    assert os.listdir(service.snapshots.root / "tmp") == []
    assert host_sentinels() == hosts_before
    # Outside berth's own state (content, snapshots, the databases) nothing may change.
    after = tree_state(tmp_path)
    changed = {
        path
        for path in set(outside_before) | set(after)
        if outside_before.get(path) != after.get(path) and not path.startswith("berth")
    }
    assert changed == set()
    assert sorted(os.listdir(tmp_path / "berth")) == [
        "content",
        "events.db",
        "events.db-shm",
        "events.db-wal",
        "images.lock",
        "projections.db",
        "projections.db-shm",
        "projections.db-wal",
        "snapshots",
    ]
    assert sorted(os.listdir(service.snapshots.root)) == ["containers", "l", "layers", "tmp"]
