"""Races and faults a user or an attacker can cause, each checked against the host.

Every test ends with `violations()`: whatever the race, the log and the world agree (no
running container that no listing shows, no leftover cgroup process, namespace, veth,
forwarder, monitor or name).
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import pytest

from ..fixtures.berthd import BIN, Berthd
from ..fixtures.world import forwarders, in_flight, monitors, violations

WAIT_S = 20


def client(daemon: Berthd) -> docker.APIClient:
    return docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)


def settled(daemon: Berthd, api: docker.APIClient) -> list[str]:
    deadline = time.monotonic() + WAIT_S
    while in_flight(daemon.root) and time.monotonic() < deadline:
        time.sleep(0.1)
    return violations(daemon.root, api)


def together(*actions: Callable[[], Any]) -> list[BaseException | None]:
    """Run the actions at the same instant, each in its own thread; their exceptions."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException | None] = [None] * len(actions)

    def run(index: int) -> None:
        barrier.wait()
        try:
            actions[index]()
        except Exception as error:
            errors[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.slow
def test_a_start_racing_a_forced_removal_leaves_no_hidden_container(berthd: Berthd) -> None:
    api = client(berthd)
    for trial in range(30):
        cid = api.create_container(
            "busybox", ["sleep", "1000"], name=f"race-{trial}", ports=[80],
            host_config=api.create_host_config(port_bindings={80: ("127.0.0.1", None)}),
        )["Id"]  # fmt: skip
        errors = together(
            functools.partial(api.start, cid),
            functools.partial(api.remove_container, cid, force=True),
        )
        assert errors[1] is None  # rm -f always wins; the start may come first or fail
        assert api.containers(all=True, filters={"id": cid}) == []
    assert settled(berthd, api) == []


@pytest.mark.slow
def test_a_forced_removal_of_many_running_containers_removes_every_one(berthd: Berthd) -> None:
    api = client(berthd)
    ids = []
    for _ in range(40):
        ids.append(api.create_container("busybox", ["sleep", "1000"])["Id"])
        api.start(ids[-1])
    removed = berthd.docker("rm", "-f", *(i[:12] for i in ids), timeout=120)
    assert removed.returncode == 0, removed.stderr
    assert sorted(removed.stdout.split()) == sorted(i[:12] for i in ids)
    assert api.containers(all=True) == []
    assert settled(berthd, api) == []


@pytest.mark.slow
def test_parallel_creates_of_one_name_leave_one_container_and_nothing_else(
    berthd: Berthd,
) -> None:
    api = client(berthd)

    def run() -> str:
        cid: str = api.create_container("busybox", ["sleep", "1000"], name="one")["Id"]
        api.start(cid)
        return cid

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(run) for _ in range(64)]
    outcomes = [f.exception() or f.result() for f in futures]
    winners = [o for o in outcomes if isinstance(o, str)]
    conflicts = [o for o in outcomes if isinstance(o, docker.errors.APIError)]
    assert len(winners) == 1 and len(conflicts) == 63
    assert all(c.status_code == 409 for c in conflicts)
    assert settled(berthd, api) == []
    api.remove_container("one", force=True)
    assert settled(berthd, api) == []


def test_a_killed_monitor_leaves_the_container_running_and_stoppable(berthd: Berthd) -> None:
    api = client(berthd)
    cid = api.create_container("busybox", ["sleep", "1000"])["Id"]
    api.start(cid)
    os.kill(monitors(berthd.root)[cid], signal.SIGKILL)
    time.sleep(1)  # the watcher sees the monitor go
    state = api.inspect_container(cid)["State"]
    assert state["Status"] == "running"
    assert settled(berthd, api) == []
    api.stop(cid, timeout=1)
    state = api.inspect_container(cid)["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == -1  # only the monitor could have told
    assert settled(berthd, api) == []


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return connection.recv(100).startswith(b"HTTP/")
    except OSError:
        return False


def test_a_killed_port_forwarder_is_started_again(berthd: Berthd) -> None:
    api = client(berthd)
    cid = api.create_container(
        "busybox", ["httpd", "-f", "-p", "80"], ports=[80],
        host_config=api.create_host_config(port_bindings={80: ("127.0.0.1", None)}),
    )["Id"]  # fmt: skip
    api.start(cid)
    port = int(api.port(cid, 80)[0]["HostPort"])
    deadline = time.monotonic() + WAIT_S
    while not _answers(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = forwarders(berthd.root)[cid]
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        now = forwarders(berthd.root).get(cid)
        if now not in (None, killed) and _answers(port):
            break
        time.sleep(0.1)
    assert _answers(port)
    api.remove_container(cid, force=True)
    assert settled(berthd, api) == []


def test_a_second_berthd_on_the_same_root_names_the_first_and_exits(berthd: Berthd) -> None:
    second = subprocess.run(
        [str(BIN / "berthd"), "--root", str(berthd.root), "-H",
         f"unix://{berthd.socket.parent / 'other.sock'}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"pid {berthd.process.pid}" in second.stderr
    assert client(berthd).ping()


def test_a_second_berthd_on_the_same_socket_does_not_take_it_over(
    berthd: Berthd, tmp_path: Any
) -> None:
    second = subprocess.run(
        [str(BIN / "berthd"), "--root", str(tmp_path / "other-root"), "-H",
         f"unix://{berthd.socket}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    assert "another daemon is serving" in second.stderr
    assert client(berthd).ping()
