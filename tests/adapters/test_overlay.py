"""Overlay root filesystems on real mounts: many layers, whiteouts, idempotent release."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.adapters.snapshots import overlay
from berth.adapters.snapshots.overlay import MountError, SnapshotStore, mounted_paths
from berth.domain.image import chain_ids

CID = "ab" * 32


def make_layers(store: SnapshotStore, builders: list[Callable[[Path], None]]) -> list[str]:
    diff_ids = [
        "sha256:" + hashlib.sha256(str(i).encode()).hexdigest() for i in range(len(builders))
    ]
    chain = chain_ids(diff_ids)
    for chain_id, build in zip(chain, builders, strict=True):
        unpacked = store.new_unpack_dir()
        unpacked.mkdir()
        build(unpacked)
        store.commit_layer(chain_id, unpacked, 0)
    return chain


def files(**content: str) -> Callable[[Path], None]:
    def build(root: Path) -> None:
        for name, text in content.items():
            path = root / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    return build


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "snapshots")


async def test_a_120_layer_image_mounts_with_every_layer_visible(store: SnapshotStore) -> None:
    chain = make_layers(store, [files(**{f"f{i}": str(i), "top": str(i)}) for i in range(120)])
    merged = await store.prepare(CID, chain)
    try:
        assert str(merged) in mounted_paths()
        assert (merged / "f0").read_text() == "0"
        assert (merged / "f119").read_text() == "119"
        assert (merged / "top").read_text() == "119"  # the top layer wins
        (merged / "written").write_text("rw")
        assert (store.container_dir(CID) / "upper" / "written").read_text() == "rw"
        assert not any((store.layer_dir(c) / "written").exists() for c in chain)
    finally:
        await store.release(CID)
    assert str(merged) not in mounted_paths()
    assert not store.container_dir(CID).exists()
    assert store.layers() == sorted(chain)  # the image's layers stay


async def test_whiteouts_and_opaque_dirs_hide_lower_content(store: SnapshotStore) -> None:
    def upper(root: Path) -> None:
        os.mknod(root / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
        (root / "dir").mkdir()
        os.setxattr(root / "dir", "trusted.overlay.opaque", b"y")
        (root / "dir" / "new").write_text("n")

    chain = make_layers(store, [files(gone="x", dir__old="o", kept="k"), upper])
    merged = await store.prepare(CID, chain)
    try:
        assert not (merged / "gone").exists()
        assert sorted(os.listdir(merged / "dir")) == ["new"]
        assert (merged / "kept").read_text() == "k"
    finally:
        await store.release(CID)


async def test_prepare_and_release_are_idempotent(store: SnapshotStore) -> None:
    chain = make_layers(store, [files(a="1")])
    first = await store.prepare(CID, chain)
    second = await store.prepare(CID, chain)
    assert first == second
    assert sum(1 for p in mounted_paths() if p == str(first)) == 1
    await store.release(CID)
    await store.release(CID)
    assert str(first) not in mounted_paths()


async def test_a_new_mount_and_its_release_read_no_mount_table(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/proc/self/mountinfo grows with every container: a new container's mount and the
    release of a mounted one need not read it."""
    reads: list[int] = []

    def counted() -> set[str]:
        reads.append(1)
        return mounted_paths()

    monkeypatch.setattr(overlay, "mounted_paths", counted)
    chain = make_layers(store, [files(a="1")])
    merged = await store.prepare(CID, chain)
    assert (merged / "a").read_text() == "1"
    await store.release(CID)
    assert reads == []
    assert str(merged) not in mounted_paths()
    # A writable layer left unmounted (a crash between the two) is released all the same.
    (store.container_dir(CID) / "merged").mkdir(parents=True)
    await store.release(CID)
    assert not store.container_dir(CID).exists()


async def test_an_image_without_layers_still_gets_a_writable_root(store: SnapshotStore) -> None:
    merged = await store.prepare(CID, [])
    try:
        (merged / "x").write_text("y")
        assert (merged / "x").read_text() == "y"
    finally:
        await store.release(CID)


def test_commit_is_idempotent_and_layers_are_shared(store: SnapshotStore) -> None:
    (chain_id,) = make_layers(store, [files(a="1")])
    again = store.new_unpack_dir()
    again.mkdir()
    (again / "a").write_text("other")
    store.commit_layer(chain_id, again, 0)
    assert (store.layer_dir(chain_id) / "a").read_text() == "1"
    assert not again.exists()
    store.remove_layer(chain_id)
    assert store.layers() == []
    assert os.listdir(store.root / "l") == []


def test_state_directories_are_root_only(store: SnapshotStore) -> None:
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    for sub in ("layers", "containers", "tmp"):
        assert stat.S_IMODE((store.root / sub).stat().st_mode) == 0o700


def test_ids_are_validated_before_use_as_paths(store: SnapshotStore) -> None:
    from berth.domain.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        store.layer_dir("sha256:../../etc")
    with pytest.raises(InvalidParameter):
        store.container_dir("../x")


async def test_mounting_spawns_no_mount_and_leaves_the_engines_directory(
    store: SnapshotStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))  # mount(8) cannot be found
    before = os.getcwd()
    chain = make_layers(store, [files(kept="layer")])
    merged = await store.prepare(CID, chain)
    try:
        assert (merged / "kept").read_text() == "layer"
        assert os.getcwd() == before
    finally:
        await store.release(CID)
    assert str(merged) not in mounted_paths()


async def test_a_mount_the_kernel_refuses_says_why(store: SnapshotStore) -> None:
    chain = make_layers(store, [files(kept="layer")])
    (store.root / "l" / store.mount_options(CID, chain).split("l/")[1][:10]).unlink()
    with pytest.raises(MountError, match=r"error creating overlay mount to .*merged: "):
        await store.prepare(CID, chain)
    await store.release(CID)
