"""The views and the reactors' positions are derived from the log: they commit without
an fsync each (synchronous=NORMAL, as the log itself), and what a killed writer
committed is there for the next."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from berth.runtime.store.positions import Positions
from berth.runtime.views.audit import AuditView
from berth.runtime.views.projections import ProjectionStore

NORMAL = 1  # PRAGMA synchronous's answer; FULL, SQLite's default, is 2


def test_the_views_commit_without_an_fsync_each(tmp_path: Path) -> None:
    for view in (ProjectionStore(tmp_path / "projections.db"), AuditView(tmp_path / "audit.db")):
        with view.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == NORMAL
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
        view.datastore.close()


def test_reactor_positions_commit_without_an_fsync_each_and_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    sqlite3.connect(db).execute("PRAGMA journal_mode=WAL").close()
    positions = Positions(db)
    assert positions._db.execute("PRAGMA synchronous").fetchone()[0] == NORMAL
    positions.put("containers", 42)
    positions.close()
    assert Positions(db).get("containers") == 42
