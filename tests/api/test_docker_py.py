"""The `docker` Python package (7.x) high-level API against berthd."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

from ..fixtures.images import busybox_image, two_platform_index
from ..fixtures.layers import busybox_layer
from ..fixtures.registry import RunningRegistry
from .conftest import Berthd


@pytest.fixture
def client_and_daemon(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> Iterator[tuple[docker.DockerClient, Berthd, RunningRegistry]]:
    daemon = start_berthd(insecure=(registry.host,))
    client = docker.DockerClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)
    try:
        yield client, daemon, registry
    finally:
        client.close()


def test_containers_high_level_api(
    client_and_daemon: tuple[docker.DockerClient, Berthd, RunningRegistry],
) -> None:
    client, _, _ = client_and_daemon
    output = client.containers.run("busybox", ["echo", "hi"], remove=True)
    assert output == b"hi\n"
    sleeper = client.containers.run("busybox", ["sleep", "30"], detach=True, name="py-sleeper")
    assert sleeper.status in ("created", "running")
    listed = client.containers.list()
    assert [c.name for c in listed] == ["py-sleeper"]
    got = client.containers.get("py-sleeper")
    assert got.id == sleeper.id and got.status == "running"
    got.stop(timeout=1)
    assert got.wait()["StatusCode"] == 137
    talker = client.containers.create("busybox", ["sh", "-c", "echo out; echo err >&2; exit 4"])
    talker.start()
    assert talker.wait()["StatusCode"] == 4
    assert talker.logs(stdout=True, stderr=False) == b"out\n"
    assert talker.logs(stdout=False, stderr=True) == b"err\n"
    killed = client.containers.run("busybox", ["sleep", "30"], detach=True)
    killed.kill()
    assert killed.wait()["StatusCode"] == 137
    for container in (got, talker, killed):
        container.remove()
    with pytest.raises(NotFound):
        client.containers.get("py-sleeper")
    with pytest.raises(APIError) as raised:
        client.containers.run("busybox", ["true"], name="x")  # too short for Docker's rule
    assert raised.value.status_code == 400


def test_a_list_without_all_is_the_running_ones_whatever_limit_docker_py_sends(
    client_and_daemon: tuple[docker.DockerClient, Berthd, RunningRegistry],
) -> None:
    """docker-py sends `all=0&limit=-1`: moby lists all states only for a limit above 0."""
    client, _, _ = client_and_daemon
    stopped = client.containers.create("busybox", ["true"], name="py-created")
    running = client.containers.run("busybox", ["sleep", "30"], detach=True, name="py-running")
    assert [c.name for c in client.containers.list()] == ["py-running"]
    assert {c.name for c in client.containers.list(all=True)} == {"py-created", "py-running"}
    assert [c.name for c in client.containers.list(limit=1)] == ["py-running"]  # the newest
    assert [c["Id"] for c in client.api.containers(limit=0)] == [running.id]
    running.remove(force=True)
    assert [c.name for c in client.containers.list(limit=1)] == ["py-created"]
    stopped.remove()


def test_images_high_level_api(
    client_and_daemon: tuple[docker.DockerClient, Berthd, RunningRegistry],
) -> None:
    client, _, registry = client_and_daemon
    image = busybox_image()
    registry.push("library/pyimage", image)
    pulled = client.images.pull(f"{registry.host}/library/pyimage", tag="latest")
    assert pulled.id == image.config_digest
    assert f"{registry.host}/library/pyimage:latest" in pulled.tags
    assert image.config_digest in [i.id for i in client.images.list()]
    assert client.images.get(f"{registry.host}/library/pyimage:latest").id == image.config_digest
    client.images.remove(f"{registry.host}/library/pyimage:latest")
    with pytest.raises(ImageNotFound):
        client.images.get(f"{registry.host}/library/pyimage:latest")


def test_inspect_distribution(
    client_and_daemon: tuple[docker.DockerClient, Berthd, RunningRegistry],
) -> None:
    """docker-py's InspectDistributionTest against a local registry: dockerd's descriptor
    of what the tag names (an index, or a manifest) and the platforms it offers; nothing
    is pulled."""
    client, _, registry = client_and_daemon
    index = two_platform_index([busybox_layer()])
    registry.push("library/multi", index)
    data = client.api.inspect_distribution(f"{registry.host}/library/multi:latest")
    assert data["Descriptor"] == {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index.digest,
        "size": len(index.manifest.data),
    }
    assert data["Platforms"] == [image.platform for image in index.images]
    assert {"os": "linux", "architecture": "amd64"} in data["Platforms"]
    image = busybox_image(kind="docker")
    registry.push("library/single", image)
    data = client.api.inspect_distribution(f"{registry.host}/library/single")
    assert data["Descriptor"]["digest"] == image.digest
    assert data["Descriptor"]["mediaType"] == image.manifest.media_type
    assert data["Platforms"] == [image.platform]
    assert image.config_digest not in [i.id for i in client.images.list()]
    with pytest.raises(NotFound):
        client.api.inspect_distribution(f"{registry.host}/library/absent:latest")
