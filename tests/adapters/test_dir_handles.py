"""Directory descriptors kept while a layer or a copied archive is written
(adapters/snapshots/dir_handles.py): each directory is walked once, and a directory
removed or replaced by the archive is walked again."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from berth.adapters.snapshots import dir_handles
from berth.adapters.snapshots.extract import extract_archive
from berth.adapters.snapshots.unpack import unpack_stream
from berth.domain.layer_entries import LayerRejected

Member = tuple[str, bytes | None, str]  # name, content (None: not a file), symlink target


def archive_of(members: list[Member]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, link in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    data.seek(0)
    return data


@pytest.fixture
def directory_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names the writer opens as directories by name (not the unnamed files it
    makes in them: O_TMPFILE includes O_DIRECTORY's bit)."""
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_TMPFILE != os.O_TMPFILE and flags & os.O_DIRECTORY and "dir_fd" in kwargs:
            opened.append(path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dir_handles.os, "open", counting_open)
    return opened


def test_a_directory_is_walked_once_for_all_its_files(
    tmp_path: Path, directory_opens: list[str]
) -> None:
    files: list[Member] = [(f"a/b/c/f{n}", b"x" * n, "") for n in range(50)]
    archive = archive_of([("a", None, ""), ("a/b", None, ""), ("a/b/c", None, ""), *files])
    target = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        extract_archive(archive, target)
    finally:
        os.close(target)
    assert sorted(os.listdir(tmp_path / "a/b/c")) == sorted(f"f{n}" for n in range(50))
    # Walking every path again for every action opened a, b and c some 300 times.
    assert directory_opens == ["a", "b", "c"]


def test_a_directory_replaced_by_the_archive_is_walked_again(tmp_path: Path) -> None:
    """`d` is a directory, then a file over it, then a directory again: its second
    contents go into the new directory, not the removed one."""
    archive = archive_of(
        [
            ("d", None, ""),
            ("d/first", b"1", ""),
            ("d", b"a file now", ""),
            ("d", None, ""),
            ("d/second", b"2", ""),
        ]
    )
    target = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        extract_archive(archive, target)
    finally:
        os.close(target)
    assert os.listdir(tmp_path / "d") == ["second"]
    assert (tmp_path / "d/second").read_bytes() == b"2"


def test_a_directory_a_layer_replaces_by_a_link_is_not_written_through(
    tmp_path: Path,
) -> None:
    """A layer's later entry replaces directory `d` by a symbolic link out of the tree:
    what comes after goes nowhere: the planner refuses the path through the link, and
    nothing was written through the old `d`'s descriptor."""
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = archive_of(
        [
            ("d", None, ""),
            ("d/first", b"1", ""),
            ("d", None, str(outside)),
            ("d/escaped", b"2", ""),
        ]
    )
    with pytest.raises(LayerRejected, match="parent 'd' is a symlink"):
        unpack_stream(layer, tmp_path / "layer")
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "layer").exists()


def test_descriptors_past_the_kept_number_are_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dir_handles, "KEPT", 3)
    members: list[Member] = []
    for n in range(10):
        members += [(f"d{n}", None, ""), (f"d{n}/f", b"x", "")]
    before = len(os.listdir("/proc/self/fd"))
    root = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    handles = dir_handles.DirectoryHandles(root)
    try:
        for n in range(10):
            (tmp_path / f"d{n}").mkdir()
            handles.open([f"d{n}"])
            handles.trim()
            assert len(os.listdir("/proc/self/fd")) - before <= 1 + 3
    finally:
        handles.close()
        os.close(root)
    assert len(os.listdir("/proc/self/fd")) == before
