"""The layer writer alone, as defense in depth: it never follows a symlink, even when told to."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.snapshots.unpack import LayerWriter
from berth.domain.layer_entries import (
    EntryType,
    Hardlink,
    MakeDevice,
    MakeDir,
    OpaqueDir,
    Remove,
    SetDirMetadata,
    Symlink,
    Whiteout,
    WriteFile,
)

from .observe import tree_state


@pytest.fixture
def writer_root(tmp_path: Path) -> Any:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/hello").write_bytes(b"world")
    os.symlink("../outside", root / "escape")  # what a wrong plan could have left
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield LayerWriter(fd), root, tmp_path / "outside"
    os.close(fd)


@pytest.mark.parametrize(
    "action",
    [
        WriteFile("escape/pwned", 5, 0o644, 0, 0, 0),
        MakeDir("escape/newdir"),
        Symlink("escape/link", "/", 0, 0, 0),
        Hardlink("stolen", "escape/hello"),
        Whiteout("escape/hello"),
        OpaqueDir("escape"),
        Remove("escape/hello"),
        SetDirMetadata("escape", 0o777, 0, 0, 0),
        MakeDevice("escape/dev", EntryType.CHAR, 0o666, 0, 0, 1, 3, 0),
    ],
    ids=lambda action: type(action).__name__,
)
def test_the_writer_never_follows_a_symlink_even_when_told_to(
    action: Any, writer_root: Any
) -> None:
    writer, root, outside = writer_root
    before = tree_state(outside)
    with pytest.raises(OSError) as caught:
        writer.apply(action, [b"pwned"])
    assert caught.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert tree_state(outside) == before
    assert sorted(os.listdir(root)) == ["escape"]


def test_the_writer_removes_a_symlink_not_what_it_points_to(writer_root: Any) -> None:
    writer, root, outside = writer_root
    writer.apply(Remove("escape"))
    assert os.listdir(root) == []
    assert (outside / "hello").read_bytes() == b"world"


def test_the_writer_refuses_unsafe_paths(writer_root: Any) -> None:
    writer, _, _ = writer_root
    for path in ("../outside/x", "a//b", "./x", "/x"):
        with pytest.raises(ValueError, match="unsafe path"):
            writer.apply(WriteFile(path, 0, 0o644, 0, 0, 0))
