"""The `Snapshots` contract (adapters/snapshots/protocol.py), for the fake and for the real
store (layers unpacked to disk, overlay mounts)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from berth.adapters.snapshots.overlay import SnapshotStore
from berth.adapters.snapshots.protocol import Snapshots
from berth.domain.errors import DiskFull, InvalidParameter
from berth.domain.image import chain_ids
from berth.domain.layers import LayerRejected

from ..fakes.snapshots import FakeSnapshots
from ..fixtures.disk import fill, small_disk
from ..fixtures.layers import Dir, File, Layer, Opaque, Symlink, Whiteout, make_layer
from .conftest import IMPLEMENTATIONS, needs

CID = "c" * 64
BASE = make_layer(
    {
        "etc/": Dir(),
        "etc/hostname": File(b"base\n"),
        "etc/gone": File(b"whited out above"),
        "opt/": Dir(),
        "opt/old": File(b"hidden by an opaque directory above"),
        "bin/": Dir(),
        "bin/sh": Symlink("busybox"),
    }
)
UPPER = make_layer(
    {
        "etc/hostname": File(b"upper\n"),
        "etc/gone": Whiteout(),
        "opt/": Dir(),
        "opt": Opaque(),
        "opt/new": File(b"new"),
    },
    compression="zstd",
)
CHAIN = chain_ids([BASE.diff_id, UPPER.diff_id])


def real(directory: Path) -> SnapshotStore:
    needs(root=True, commands=("mount",))
    return SnapshotStore(directory / "snapshots")


@pytest.fixture(params=IMPLEMENTATIONS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Snapshots]:
    snapshots: Snapshots = (
        FakeSnapshots(tmp_path / "snapshots") if request.param == "fake" else real(tmp_path)
    )
    yield snapshots
    for container_id in snapshots.containers():
        await snapshots.release(container_id)


def unpacked(store: Snapshots, layer: Layer) -> Path:
    target = store.new_unpack_dir()
    result = store.unpack(io.BytesIO(layer.blob.data), target)
    assert (result.diff_id, result.size) == (layer.diff_id, len(layer.tar))
    return target


def committed(store: Snapshots, *layers: Layer) -> list[str]:
    chain = chain_ids([layer.diff_id for layer in layers])
    for layer, chain_id in zip(layers, chain, strict=True):
        store.commit_layer(chain_id, unpacked(store, layer), len(layer.tar))
    return chain


async def test_a_layer_is_unpacked_then_committed_once(store: Snapshots) -> None:
    (chain_id,) = chain_ids([BASE.diff_id])
    assert not store.has_layer(chain_id) and store.layer_size(chain_id) == 0
    committed(store, BASE)
    assert store.has_layer(chain_id)
    assert store.layers() == [chain_id]
    assert store.layer_size(chain_id) == len(BASE.tar)
    again = unpacked(store, BASE)
    store.commit_layer(chain_id, again, len(BASE.tar))  # there already: kept as it is
    assert store.layers() == [chain_id]
    assert store.discard_partial() == []  # and the second unpack is gone
    for _ in range(2):
        store.remove_layer(chain_id)
    assert store.layers() == [] and not store.has_layer(chain_id)


@pytest.mark.parametrize(
    ("layer", "refused"),
    [
        (make_layer({"a": Symlink("/etc"), "a/passwd": File(b"x")}), LayerRejected),
        (make_layer({"x": File(b"x")}, tar=b"not a tar at all" * 40), InvalidParameter),
    ],
    ids=["through a symlink", "not a tar"],
)
async def test_a_layer_the_policy_refuses_leaves_nothing(
    store: Snapshots, layer: Layer, refused: type[Exception]
) -> None:
    target = store.new_unpack_dir()
    with pytest.raises(refused):
        store.unpack(io.BytesIO(layer.blob.data), target)
    assert not target.exists()
    assert store.discard_partial() == []


async def test_an_unpack_never_committed_is_discarded(store: Snapshots) -> None:
    kept_for_now = unpacked(store, BASE)
    thrown = unpacked(store, UPPER)
    store.discard_unpack(thrown)
    store.discard_unpack(thrown)
    assert store.discard_partial() == [str(kept_for_now)]
    assert store.layers() == []


async def test_a_root_filesystem_stacks_the_layers_as_overlay_does(store: Snapshots) -> None:
    committed(store, BASE, UPPER)
    rootfs = await store.prepare(CID, CHAIN)
    assert (rootfs / "etc" / "hostname").read_bytes() == b"upper\n"
    assert not (rootfs / "etc" / "gone").exists()
    assert sorted(p.name for p in (rootfs / "opt").iterdir()) == ["new"]
    assert (rootfs / "bin" / "sh").readlink() == Path("busybox")
    assert store.containers() == [CID]
    (rootfs / "written").write_text("by the container")
    assert await store.prepare(CID, CHAIN) == rootfs
    assert (rootfs / "written").read_text() == "by the container"
    for _ in range(2):
        await store.release(CID)
    assert not rootfs.exists()
    assert store.containers() == []


async def test_a_root_filesystem_of_no_layers_is_empty(store: Snapshots) -> None:
    rootfs = await store.prepare(CID, [])
    assert list(rootfs.iterdir()) == []
    await store.release(CID)


async def test_ids_are_checked_before_they_are_used(store: Snapshots) -> None:
    for bad in ("sha256:abc", "md5:" + "0" * 32, "../" + "0" * 64):
        with pytest.raises(InvalidParameter, match="invalid chain id"):
            store.has_layer(bad)
    for bad_container in ("c" * 63, "../" + "c" * 61, "C" * 64):
        with pytest.raises(InvalidParameter, match="invalid container id"):
            await store.prepare(bad_container, [])
    with pytest.raises(InvalidParameter, match="is not unpacked"):
        await store.prepare(CID, CHAIN)
    await store.release(CID)  # what the failed prepare may have left
    assert store.containers() == []


@contextmanager
def real_full_disk(directory: Path) -> Iterator[tuple[Snapshots, Callable[[], None]]]:
    needs(root=True)
    with small_disk(directory / "disk", "4m") as disk:
        store = SnapshotStore(disk / "snapshots")
        filler = fill(disk)
        yield store, filler.unlink


@contextmanager
def fake_full_disk(directory: Path) -> Iterator[tuple[Snapshots, Callable[[], None]]]:
    fake = FakeSnapshots(directory / "snapshots")
    fake.faults.disk_full = True

    def free() -> None:
        fake.faults.disk_full = False

    yield fake, free


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_a_full_disk_is_disk_full_and_leaves_nothing(impl: str, tmp_path: Path) -> None:
    big = make_layer({"big": File(bytes(1024 * 1024))})
    full = fake_full_disk if impl == "fake" else real_full_disk
    with full(tmp_path) as (store, free):
        target = store.new_unpack_dir()
        with pytest.raises(DiskFull) as raised:
            store.unpack(io.BytesIO(big.blob.data), target)
        assert raised.value.http_status == 503
        assert not target.exists()
        free()
        committed(store, big)
        assert store.layers() == chain_ids([big.diff_id])
