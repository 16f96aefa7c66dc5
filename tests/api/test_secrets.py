"""A secret given to berthd reaches neither the audit trail's actors nor the dashboard.

The secret rides where users put them: in `-e` on the docker CLI's command line (which
berthd records as the caller's), in the container's environment, command and labels.
The API socket is root's; the dashboard is any local user's, so none of it may show.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

import httpx

from .conftest import METRICS, Berthd, base_url
from .test_dashboard import read_frames

CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


def make_secret() -> str:
    return f"hunter2-{uuid.uuid4().hex}"


def test_the_callers_command_line_is_recorded_without_its_secrets(berthd: Berthd) -> None:
    secret = make_secret()
    name = f"sec-{uuid.uuid4().hex[:8]}"
    created = berthd.docker("create", "--name", name, "-e", f"PASSWORD={secret}", "busybox", "true")
    assert created.returncode == 0, created.stderr
    # The in-process CLI records its own command line the same way.
    renamed = berthd.berth("rename", name, f"{name}-2")
    assert renamed.returncode == 0, renamed.stderr
    local = berthd.berth("create", "--env", f"TOKEN={secret}", "busybox", "true")
    assert local.returncode == 0, local.stderr

    audit = berthd.berth("audit", "--format", "json")
    assert audit.returncode == 0, audit.stderr
    commands = {
        entry["actor"]["command"]
        for entry in map(json.loads, audit.stdout.splitlines())
        if entry["actor"]["command"]
    }
    assert any(c.endswith("-e PASSWORD=<redacted> busybox true") for c in commands), commands
    assert any(c.endswith("--env TOKEN=<redacted> busybox true") for c in commands), commands
    assert secret not in audit.stdout
    history = berthd.berth("history", "--format", "json", f"{name}-2")
    assert history.returncode == 0, history.stderr
    assert "PASSWORD=<redacted>" in history.stdout
    assert secret not in history.stdout


def test_no_dashboard_route_serves_a_secret(start_berthd: Callable[..., Berthd]) -> None:
    daemon = start_berthd(args=METRICS)
    url = base_url(daemon)
    secret = make_secret()
    name = f"sec-{uuid.uuid4().hex[:8]}"
    ran = daemon.docker(
        *("run", "--name", name, "-e", f"PASSWORD={secret}", "--label", f"auth={secret}"),
        *("busybox", "sh", "-c", f"echo {secret}; exit 3"),
    )
    assert ran.returncode == 3, ran.stderr
    kept = daemon.docker("create", "-e", f"PASSWORD={secret}", "busybox", "echo", secret)
    assert kept.returncode == 0, kept.stderr
    # So that a redaction failure cannot hide behind a missing container.
    assert secret in daemon.docker("inspect", name).stdout

    bodies = {}
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/", "/index.html", "/metrics", "/api/containers"):
            response = client.get(path)
            assert response.status_code == 200, path
            bodies[path] = response.text
        listed = json.loads(bodies["/api/containers"])
        ids = [entry["id"] for entry in listed["containers"]]
        assert len(ids) == 2 and all(CONTAINER_ID.fullmatch(i) for i in ids)
        for container_id in ids:
            path = f"/api/containers/{container_id}/history"
            history = client.get(path).json()
            bodies[path] = json.dumps(history)
            for event in history["events"]:
                path = f"/api/containers/{container_id}/at?version={event['version']}"
                response = client.get(path)
                assert response.status_code == 200, path
                bodies[path] = response.text
    frames = read_frames(f"{url}/api/events?since=0", {}, listed["position"])
    bodies["/api/events"] = json.dumps(frames)

    assert [path for path, body in bodies.items() if secret in body] == []
    # What it does show: names, states, exit codes, actors by kind and uid.
    assert f'"name": "{name}"' in bodies["/api/containers"]
    document = json.loads(bodies[f"/api/containers/{ids[-1]}/at?version=1"])["document"]
    assert document["Name"] == f"/{name}"
    assert any('"exit_code": 3' in body for body in bodies.values())
    assert '"kind": "api"' in bodies["/api/events"]
