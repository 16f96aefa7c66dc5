"""`berth store copy`: a SQLite root's log into a fleet's PostgreSQL store, in its
positions' order, actors kept, both chains verified (ADR/0043)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from berth.runtime.cli.main import main
from berth.runtime.service.engine import Engine
from berth.runtime.store.verify_fleet import verify_fleet

from ..conftest import API, SteppingClock, seed_busybox


def test_a_root_is_copied_in_order_with_its_actors(tmp_path: Path, postgres_url: str) -> None:
    root = tmp_path / "lone"
    with Engine(root, clock=SteppingClock()) as lone:
        seed_busybox(lone)
        web = lone.create_container({"Image": "busybox"}, "web", API).id
        lone.rename(web, "site", API)
        lone.create_container({"Image": "busybox"}, "db", API)
        before = lone.store.read_log(0, limit=10_000)

    copied = CliRunner().invoke(
        main,
        ["store", "copy", "--from", f"sqlite://{root}", "--to", postgres_url, "--host-id", "h1"],
    )
    assert copied.exit_code == 0, copied.output
    assert "both chains verified" in copied.output

    with Engine(tmp_path / "h1", store_url=postgres_url, host_id="h1") as fleet:
        after = fleet.store.read_log(0, limit=10_000)
        assert [(e.originator_id, e.version, e.topic) for e in after] == [
            (e.originator_id, e.version, e.topic) for e in before
        ]
        assert [e.data["actor"].uid for e in after] == [e.data["actor"].uid for e in before]
        assert {e.data["actor"].host for e in after} == {"h1"}
        assert sorted(e["Names"][0] for e in fleet.list_containers(all=True)) == ["/db", "/site"]
        assert verify_fleet(fleet.store.datastore, "h1").intact

    again = CliRunner().invoke(
        main,
        ["store", "copy", "--from", f"sqlite://{root}", "--to", postgres_url, "--host-id", "h1"],
    )
    assert again.exit_code != 0 and "already holds host h1" in again.output
