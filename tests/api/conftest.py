"""berthd with metrics and the dashboard for the API tests; `start_berthd` and `berthd`
come from tests/fixtures/berthd.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import docker
import pytest

from ..fixtures.berthd import BIN, Berthd

__all__ = ["BIN", "METRICS", "Berthd", "base_url"]

METRICS = ("--metrics-addr", "127.0.0.1:0")


def base_url(daemon: Berthd) -> str:
    """The metrics and dashboard address berthd printed in its ready line."""
    found = re.search(r"metrics=(http://\S+)/metrics", daemon.ready_line)
    assert found, daemon.ready_line
    return found.group(1)


@pytest.fixture
def api(start_berthd: Callable[..., Berthd]) -> Iterator[tuple[docker.APIClient, Berthd]]:
    """berthd with metrics and the dashboard, and a docker API client on its socket."""
    daemon = start_berthd(args=METRICS)
    client = docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)
    try:
        yield client, daemon
    finally:
        client.close()


@pytest.fixture
def docker_api(berthd: Berthd) -> Iterator[docker.APIClient]:
    """docker-py's low-level client of `berthd`; what containers are left go at the end."""
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        yield client
    finally:
        for container in client.containers(all=True):
            client.remove_container(container["Id"], force=True)
        client.close()
