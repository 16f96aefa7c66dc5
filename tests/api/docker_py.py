"""A docker-py API client on a test's berthd that removes what the test left: every
container, and every network but the built-in ones."""

from __future__ import annotations

from collections.abc import Iterator

import docker

from .conftest import Berthd


def cleaned_api(berthd: Berthd) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        yield client
    finally:
        for container in client.containers(all=True):
            client.remove_container(container["Id"], force=True)
        for network in client.networks():
            if network["Name"] not in ("bridge", "host", "none"):
                client.remove_network(network["Id"])
        client.close()
