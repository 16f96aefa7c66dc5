"""The engine on a full disk: `DiskFull` naming the log, nothing appended, nothing taken
(the name), and the next request works once space returns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.domain.errors import DiskFull
from berth.runtime.service.engine import Engine

from ..conftest import API, seed_busybox
from ..domain.factories import new_container
from ..fixtures.disk import fill, small_disk

BODY = {"Image": "busybox", "Cmd": ["true"]}


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", "8m") as mounted:
        yield mounted


def test_a_create_on_a_full_disk_appends_nothing_and_the_next_one_works(disk: Path) -> None:
    with Engine(disk / "berth") as engine:
        seed_busybox(engine)
        head = engine.store.max_position()
        filler = fill(disk)
        with pytest.raises(DiskFull) as raised:
            engine.create_container(BODY, "web", API)
        assert raised.value.message == f"no space left on device: {disk}/berth/events.db"
        assert engine.store.max_position() == head
        filler.unlink()
        created = engine.create_container(BODY, "web", API)  # the name was not taken
        assert engine.inspect_container("web")["Id"] == created.id


def test_a_new_root_on_a_full_disk_is_disk_full(disk: Path) -> None:
    filler = fill(disk)
    with pytest.raises(DiskFull, match=f"no space left on device: {disk}/berth/events.db"):
        Engine(disk / "berth")
    filler.unlink()
    Engine(disk / "berth").close()


def test_a_view_that_finds_no_space_after_a_save_is_a_warning_and_catches_up_later(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The change is recorded; the views lag until the next query, and the daemon's log
    says why in one line instead of a traceback."""
    catch_up = engine.views.catch_up

    def full(store: object) -> int:
        raise DiskFull(engine.root / "projections.db")

    monkeypatch.setattr(engine.views, "catch_up", full)
    container = new_container("e" * 64, name="/web")
    engine.save(container)
    [record] = [r for r in caplog.records if "projection failed" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert f"no space left on device: {engine.root}/projections.db" in record.getMessage()
    monkeypatch.setattr(engine.views, "catch_up", catch_up)
    assert engine.inspect_container("web")["Id"] == container.id
