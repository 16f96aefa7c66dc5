"""Opening the audit view while another process writes the same file: its schema
transaction (a read, then writes) is tried again rather than failing at once with
"database is locked" — SQLite's answer when a write transaction's snapshot went stale
meanwhile (a rebuild while berthd wrote once failed so)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from berth.runtime.views import audit
from berth.runtime.views.audit import AuditView


def test_a_locked_schema_transaction_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = audit.add_host_column
    calls: list[int] = []

    def locked_once(cursor: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        real(cursor)

    monkeypatch.setattr(audit, "add_host_column", locked_once)
    view = AuditView(tmp_path / "projections.db")
    try:
        assert len(calls) == 2
        assert view.dump() == []
    finally:
        view.close()
