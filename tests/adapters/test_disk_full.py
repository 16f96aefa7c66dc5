"""The content store and the layer unpacker on a full disk: `DiskFull` naming the path,
nothing left half written, and the next write works once space returns."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.adapters.content import ContentStore
from berth.adapters.snapshots.overlay import SnapshotStore
from berth.adapters.snapshots.unpack import unpack_layer
from berth.domain.errors import DiskFull

from ..fixtures.disk import fill, small_disk
from .test_content import chunked


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", "4m") as mounted:
        yield mounted


def blob(size: int = 256 * 1024) -> tuple[str, bytes]:
    data = os.urandom(size)
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def layer_tar(size: int = 256 * 1024) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo("big")
        member.size = size
        tar.addfile(member, io.BytesIO(os.urandom(size)))
    return buffer.getvalue()


@pytest.mark.parametrize("streamed", [True, False])
async def test_a_blob_on_a_full_disk_is_disk_full_and_leaves_nothing(
    disk: Path, streamed: bool
) -> None:
    store = ContentStore(disk / "content")
    digest, data = blob()
    filler = fill(disk)
    with pytest.raises(DiskFull) as raised:
        if streamed:
            await store.ingest(digest, len(data), chunked(data))
        else:
            store.write_bytes(digest, data)
    assert raised.value.http_status == 503
    assert raised.value.message == f"no space left on device: {store.path(digest)}"
    assert not store.has(digest)
    assert os.listdir(store.root / "ingest") == []
    filler.unlink()
    if streamed:
        await store.ingest(digest, len(data), chunked(data))
    else:
        store.write_bytes(digest, data)
    assert store.read_bytes(digest, len(data)) == data


def test_a_layer_unpacked_onto_a_full_disk_is_disk_full_and_leaves_nothing(
    disk: Path, tmp_path: Path
) -> None:
    layer = tmp_path / "layer.tar"
    layer.write_bytes(layer_tar())
    snapshots = SnapshotStore(disk / "snapshots")
    target = snapshots.new_unpack_dir()
    filler = fill(disk)
    with pytest.raises(DiskFull, match=f"no space left on device: {target}"):
        unpack_layer(layer, target)
    assert not target.exists()
    assert os.listdir(target.parent) == []
    filler.unlink()
    result = unpack_layer(layer, target)
    snapshots.commit_layer("sha256:" + "a" * 64, target, result.size)
    assert snapshots.layers() == ["sha256:" + "a" * 64]
