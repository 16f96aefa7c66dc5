"""docker-compose (Debian's 1.29.2) end to end against berthd, on the projects under
tests/compose/: each is brought up and down and leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..fixtures.berthd import Berthd

PROJECTS = Path(__file__).parent.parent / "compose"
COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(COMPOSE is None, reason="needs docker-compose")
#: Generous bound of a poll (a hang's), not a timing.
POLL_BOUND_S = 30.0


def compose(
    daemon: Berthd, project: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    # compose's `run` and `exec` go through the docker CLI, as they do by default.
    env = {**os.environ, "DOCKER_HOST": f"unix://{daemon.socket}"}
    env["DOCKER_CONFIG"] = str(daemon.docker_config)
    done = subprocess.run(
        [COMPOSE, "--ansi", "never", "-p", f"t{project}", *args],
        cwd=PROJECTS / project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def states(daemon: Berthd, project: str) -> dict[str, str]:
    """Each container of the project, by name: its state."""
    listed = daemon.docker("ps", "-a", "--format", "{{json .}}",
                           "--filter", f"label=com.docker.compose.project=t{project}")  # fmt: skip
    return {entry["Names"]: entry["State"] for entry in map(json.loads, listed.stdout.splitlines())}


def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + POLL_BOUND_S
    while not check():
        assert time.monotonic() < deadline, "never came true"
        time.sleep(0.1)


def left(daemon: Berthd) -> list[str]:
    """Containers, networks (besides the three built in) and volumes still there."""
    found = daemon.docker("ps", "-aq").stdout.split()
    found += set(daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()) - {
        "bridge",
        "host",
        "none",
    }
    return found + daemon.docker("volume", "ls", "-q").stdout.split()


@pytest.fixture
def daemon(berthd: Berthd) -> Iterator[Berthd]:
    """berthd, with whatever a failed test left brought down after it."""
    try:
        yield berthd
    finally:
        if left(berthd):
            for project in ("web", "scaled", "volumes"):
                compose(berthd, project, "--profile", "tools", "down", "-v", check=False)


def test_a_web_server_and_its_client_by_service_name(daemon: Berthd) -> None:
    compose(daemon, "web", "up", "-d")
    assert states(daemon, "web") == {"tweb_web_1": "running", "tweb_client_1": "running"}
    until(lambda: "hello from the document root" in compose(daemon, "web", "logs", "client").stdout)
    web = json.loads(daemon.docker("inspect", "tweb_web_1").stdout)[0]
    assert web["Config"]["Labels"]["berth.test"] == "web"
    assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    greeting = compose(daemon, "web", "exec", "-T", "client", "sh", "-c", "echo $GREETING")
    assert greeting.stdout.strip() == "hello from compose"
    fetched = compose(
        daemon, "web", "run", "--rm", "probe", "wget", "-qO-", "http://web/index.html"
    )
    assert fetched.stdout.strip() == "hello from the document root"
    # A service with containers: compose links the one-off container to them.
    fetched = compose(daemon, "web", "run", "--rm", "client", "wget", "-qO-", "http://web/")
    assert fetched.stdout.strip() == "hello from the document root"
    compose(daemon, "web", "stop")
    assert set(states(daemon, "web").values()) == {"exited"}
    compose(daemon, "web", "start")
    compose(daemon, "web", "restart", "web")
    assert set(states(daemon, "web").values()) == {"running"}
    compose(daemon, "web", "down", "-v")
    assert left(daemon) == []


def test_logs_follow(daemon: Berthd) -> None:
    compose(daemon, "web", "up", "-d")
    assert COMPOSE is not None
    env = {**os.environ, "DOCKER_HOST": f"unix://{daemon.socket}"}
    follower = subprocess.Popen(
        [COMPOSE, "--ansi", "never", "-p", "tweb", "logs", "-f", "--no-color", "client"],
        cwd=PROJECTS / "web", env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follower.stdout is not None
        seen = ""
        while "hello from the document root" not in seen:
            line = follower.stdout.readline()
            assert line, seen
            seen += line
    finally:
        follower.kill()
        follower.wait()
    compose(daemon, "web", "down", "-v")
    assert left(daemon) == []


def test_a_scaled_service_is_answered_round_robin_behind_its_alias(daemon: Berthd) -> None:
    compose(daemon, "scaled", "up", "-d", "--scale", "api=3")
    assert sorted(states(daemon, "scaled")) == [f"tscaled_api_{n}" for n in (1, 2, 3)]
    addresses = {
        json.loads(daemon.docker("inspect", f"tscaled_api_{n}").stdout)[0]["NetworkSettings"][
            "Networks"
        ]["tscaled_back"]["IPAddress"]
        for n in (1, 2, 3)
    }
    # Each lookup's answer starts with another address. (Not asserted through wget: glibc
    # sorts the addresses it gets by their prefix in common with its own, as with dockerd.)
    script = "; ".join(f"nslookup {name}" for name in ("backend", "backend", "backend", "api"))
    out = compose(daemon, "scaled", "run", "--rm", "probe", "sh", "-c", script).stdout
    answers = [  # busybox: "Address:<tab>server" heads each lookup, "Address: <ip>" a record
        [line.split()[-1] for line in lookup.splitlines() if line.startswith("Address: ")]
        for lookup in out.split("Server:")[1:]
    ]
    assert [set(found) for found in answers] == [addresses] * 4, out
    assert {found[0] for found in answers[:3]} == addresses, out
    hostnames = {
        json.loads(daemon.docker("inspect", f"tscaled_api_{n}").stdout)[0]["Config"]["Hostname"]
        for n in (1, 2, 3)
    }
    fetched = compose(daemon, "scaled", "run", "--rm", "probe", "wget", "-qO-", "http://api:8080/")
    assert fetched.stdout.strip() in hostnames
    compose(daemon, "scaled", "down", "-v")
    assert left(daemon) == []


def test_named_volumes_are_shared_and_removed(daemon: Berthd) -> None:
    compose(daemon, "volumes", "up", "-d")
    until(lambda: "kept" in compose(daemon, "volumes", "logs", "reader").stdout)
    volumes = daemon.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert sorted(volumes) == ["tvolumes_cache", "tvolumes_data"]
    labels = json.loads(daemon.docker("volume", "inspect", "tvolumes_data").stdout)[0]["Labels"]
    assert labels["berth.test"] == "volumes"
    compose(daemon, "volumes", "down", "-v")
    assert left(daemon) == []


def test_an_engine_killed_mid_up_converges_on_the_next_up(
    start_berthd: Callable[..., Berthd],
) -> None:
    # The second container's start dies after its network is set up, before runc.
    first = start_berthd(env={"BERTH_CRASH_AT": "start.network_attached:2"})
    failed = compose(first, "web", "up", "-d", check=False)
    assert failed.returncode != 0
    first.wait_killed()
    second = start_berthd()
    compose(second, "web", "up", "-d")
    until(lambda: set(states(second, "web").values()) == {"running"})
    assert sorted(states(second, "web")) == ["tweb_client_1", "tweb_web_1"]
    compose(second, "web", "down", "-v")
    assert left(second) == []
