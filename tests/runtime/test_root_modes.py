"""The root and its databases are root's alone, from the moment they exist (ADR/0018)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.adapters.private_files import private_database, private_dir, write_private
from berth.runtime.service.engine import Engine

DATABASE_FILES = ("events.db", "projections.db")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_root_and_its_databases_are_private_even_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    root = tmp_path / "parent" / "root"
    with umask(0), Engine(root) as engine:
        engine.catch_up()
        # While the engine is open the databases have their WAL companions.
        companions = [
            root / f"{db}{suffix}" for db in DATABASE_FILES for suffix in ("-wal", "-shm")
        ]
        assert all(path.exists() for path in companions)
        modes = {path.name: mode(path) for path in root.iterdir() if path.is_file()}
    assert modes == dict.fromkeys(modes, 0o600)
    assert set(modes) >= {*DATABASE_FILES, *(path.name for path in companions)}
    assert mode(root) == 0o700
    assert mode(root.parent) == 0o700  # made for the root, so made private too


def test_a_root_left_open_by_an_older_berth_is_narrowed_when_opened(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Engine(root):
        pass
    root.chmod(0o755)
    for name in (*DATABASE_FILES, "events.db-wal", "projections.db-shm"):
        (root / name).touch()
        (root / name).chmod(0o644)
    with Engine(root):
        assert mode(root) == 0o700
        for name in (*DATABASE_FILES, "events.db-wal", "projections.db-shm"):
            assert mode(root / name) == 0o600, name


def test_private_files_never_follow_a_planted_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not berth's")
    target.chmod(0o644)
    planted = tmp_path / "events.db"
    planted.symlink_to(target)
    with pytest.raises(OSError):
        private_database(planted)
    with pytest.raises(OSError):
        write_private(planted, "x")
    assert (target.read_text(), mode(target)) == ("not berth's", 0o644)


def test_private_dir_makes_missing_parents_private_and_leaves_existing_ones(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o755)
    made = private_dir(tmp_path / "a" / "b")
    assert [mode(made), mode(made.parent), mode(tmp_path)] == [0o700, 0o700, 0o755]
