"""`docker update` in the audit: a user's request, exported and found by its verb."""

from __future__ import annotations

import json
from pathlib import Path

from berth.runtime.service.engine import Engine

from ..conftest import seed_busybox
from .test_audit import API, berth


def test_an_update_is_exported_as_its_request_and_found_by_its_verb(tmp_path: Path) -> None:
    root = tmp_path / "berth"
    with Engine(root) as engine:
        seed_busybox(engine)
        cid = engine.create_container({"Image": "busybox"}, "web", API).id
        engine.update(cid, {"Memory": 64 << 20}, API)
    result = berth("--root", str(root), "audit", "--format", "commands")
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.splitlines()[-1])
    assert (last["method"], last["path"]) == ("POST", f"/containers/{cid}/update")
    assert last["body"] == {"Memory": 64 << 20}
    found = berth("--root", str(root), "audit", "--action", "update", "--format", "json")
    assert [json.loads(line)["action"] for line in found.output.splitlines()] == ["Updated"]
