"""`berth projections rebuild [NAME]`: the views and the audit trail rebuilt from the log
equal the incremental ones, also while another process keeps writing to the log."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from berth.runtime.cli.main import main
from berth.runtime.service.engine import Engine
from berth.runtime.views.audit import AuditView

from ..conftest import API, SteppingClock, seed_busybox
from .test_projections import scripted


def rebuild(root: Path, *names: str) -> str:
    result = CliRunner().invoke(main, ["--root", str(root), "projections", "rebuild", *names])
    if result.exception and result.exit_code:
        import traceback

        traceback.print_exception(result.exception)
    assert result.exit_code == 0, result.output
    return result.output


def audit_rows(root: Path, engine: Engine) -> list[tuple[object, ...]]:
    view = AuditView(root / "projections.db")
    try:
        view.catch_up(engine.store)
        return view.dump()
    finally:
        view.close()


@pytest.mark.parametrize("name", [None, "all", "views", "audit"])
def test_rebuild_equals_incremental(engine: Engine, root: Path, name: str | None) -> None:
    scripted(engine)
    views_before = engine.views.dump()
    audit_before = audit_rows(root, engine)
    output = rebuild(root, *([name] if name else []))
    assert f"up to log position {engine.store.max_position()}" in output
    assert engine.views.dump() == views_before
    assert audit_rows(root, engine) == audit_before


def test_rebuild_while_another_process_keeps_writing(root: Path) -> None:
    with Engine(root, clock=SteppingClock()) as writer:
        seed_busybox(writer)
        scripted(writer)
        stop = threading.Event()

        def keep_writing() -> None:
            while not stop.is_set():
                writer.create_container({"Image": "busybox", "Cmd": ["true"]}, None, API)

        thread = threading.Thread(target=keep_writing)
        thread.start()
        try:
            rebuild(root)
            rebuild(root, "views")
        finally:
            stop.set()
            thread.join()
        writer.catch_up()
        served = writer.views.dump()
        fresh = rebuild(root)
        assert f"up to log position {writer.store.max_position()}" in fresh
        assert writer.views.dump() == served
        assert len(served["containers"]) > 6
