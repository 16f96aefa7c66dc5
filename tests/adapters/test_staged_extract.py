"""An archive extracted as it arrives (adapters/snapshots: piece_source, staging,
extract): the same tree whatever way its bytes are cut, whether the files wait unnamed
in the target's filesystem (O_TMPFILE) or on the heap (a filesystem without O_TMPFILE,
or past the descriptor budget), and nothing at all written for a refused archive."""

from __future__ import annotations

import errno
import gzip
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.adapters.snapshots import staging
from berth.adapters.snapshots.container_files import extract_to
from berth.domain.layer_entries import LayerRejected

# None: unnamed files in the target's filesystem; 0: every file on the heap; 2: both.
BUDGETS = [None, 0, 2]


def archive_of(
    members: list[tuple[str, bytes | None]], bad: tarfile.TarInfo | None = None
) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o4755
                tar.addfile(info, io.BytesIO(content))
        if bad is not None:
            tar.addfile(bad)
    return data.getvalue()


def pieces_of(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """The data cut at `cuts` (sizes); an empty piece only once it is all given, as a
    body's reader answers."""
    at = 0
    for size in cuts:
        if data[at : at + size]:
            yield data[at : at + size]
        at += size
    if data[at:]:
        yield data[at:]
    while True:
        yield b""


def tree_of(top: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(top)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(top.rglob("*"))
    }


def extract(data: bytes, target: Path, heap: Path, budget: int | None, cuts: list[int]) -> None:
    pieces = pieces_of(data, cuts)
    extract_to(
        target, "/", lambda: next(pieces), (1234, 5678), heap_dir=heap, tmpfile_budget=budget
    )


MEMBERS: list[tuple[str, bytes | None]] = [
    ("d/", None),
    ("d/a", os.urandom(70_000)),
    ("d/e/b", b"small"),
    ("c", b""),
    ("d/a2", os.urandom(1000)),
]


@settings(max_examples=15, deadline=None)
@given(
    budget=st.sampled_from(BUDGETS),
    cuts=st.lists(st.integers(min_value=0, max_value=40_000), max_size=10),
)
def test_the_tree_is_the_archive_whatever_the_cuts_and_wherever_files_wait(
    tmp_path_factory: pytest.TempPathFactory, budget: int | None, cuts: list[int]
) -> None:
    work = tmp_path_factory.mktemp("staged")
    (work / "target").mkdir()
    extract(archive_of(MEMBERS), work / "target", work / "heap", budget, cuts)
    tree = tree_of(work / "target")
    assert tree == {"c": b"", "d": None, "d/a": MEMBERS[1][1], "d/a2": MEMBERS[4][1],
                    "d/e": None, "d/e/b": b"small"}  # fmt: skip
    status = os.stat(work / "target" / "d" / "a")
    assert (status.st_uid, status.st_gid, status.st_mode & 0o7777) == (1234, 5678, 0o4755)
    assert status.st_mtime == 1_600_000_000
    # The heap is unnamed: nothing of it is left; with room for every file, no heap.
    assert not (work / "heap").exists() or list((work / "heap").iterdir()) == []
    assert (work / "heap").exists() == (budget is not None and budget < 3)


def escaping() -> tarfile.TarInfo:
    info = tarfile.TarInfo("../escape")
    info.size = 0
    return info


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_refused_archive_writes_nothing_even_after_accepted_files(
    tmp_path: Path, budget: int | None
) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "kept").write_bytes(b"as it was")
    with pytest.raises(LayerRejected):
        extract(archive_of(MEMBERS, escaping()), tmp_path / "target", tmp_path / "heap", budget, [])
    assert tree_of(tmp_path / "target") == {"kept": b"as it was"}
    assert not (tmp_path / "escape").exists()


def test_a_filesystem_without_unnamed_files_uses_the_heap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(dir_fd: int) -> int:
        raise OSError(errno.EOPNOTSUPP, "no O_TMPFILE here")

    monkeypatch.setattr(staging, "open_unnamed", unsupported)
    (tmp_path / "target").mkdir()
    extract(archive_of(MEMBERS), tmp_path / "target", tmp_path / "heap", None, [100, 5000])
    assert tree_of(tmp_path / "target")["d/a"] == MEMBERS[1][1]
    assert (tmp_path / "heap").is_dir()


def test_a_compressed_archive_arriving_in_pieces_is_inflated(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    extract(gzip.compress(archive_of(MEMBERS)), tmp_path / "target", tmp_path / "h", None, [3])
    assert tree_of(tmp_path / "target")["d/e/b"] == b"small"


def test_a_truncated_archive_is_corrupt_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    whole = archive_of(MEMBERS)
    with pytest.raises(Exception, match="unexpected end of tar stream"):
        extract(whole[: len(whole) // 2], tmp_path / "target", tmp_path / "heap", None, [])
    assert tree_of(tmp_path / "target") == {}
