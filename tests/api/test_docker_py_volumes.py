"""docker-py's own volume tests (tests/integration/api_volume_test.py and
models_volumes_test.py) against berthd: in their order, test_force_remove_volume then
test_remove_volume create and remove one name twice, which hung berthd's volume view."""

from __future__ import annotations

import docker
import pytest
from docker.errors import NotFound

from .conftest import Berthd


def test_a_removed_volumes_name_is_created_and_removed_again(docker_api: docker.APIClient) -> None:
    name = "shootthebullet"
    docker_api.create_volume(name)
    docker_api.remove_volume(name, force=True)  # test_force_remove_volume
    docker_api.create_volume(name)  # test_remove_volume
    assert docker_api.inspect_volume(name)["Name"] == name
    assert [v["Name"] for v in docker_api.volumes()["Volumes"]] == [name]
    docker_api.remove_volume(name)
    with pytest.raises(NotFound):
        docker_api.inspect_volume(name)
    assert docker_api.volumes()["Volumes"] == []


def test_list_remove_with_name_filters(berthd: Berthd) -> None:
    """models_volumes_test's test_list_remove, after test_create_get made the name."""
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        client.volumes.create("dockerpytest_1", driver="local", labels={"k": "v"}).remove()
        volume = client.volumes.create("dockerpytest_1")
        assert volume in client.volumes.list()
        assert volume in client.volumes.list(filters={"name": "dockerpytest_"})
        assert volume not in client.volumes.list(filters={"name": "foobar"})
        volume.remove()
        assert client.volumes.list() == []
    finally:
        client.close()


def test_create_with_volume_driver(berthd: Berthd) -> None:
    """models_containers_test's: a volume driver with no volume to make is kept, as
    dockerd keeps it; one that would make a volume is dockerd's failed plugin lookup."""
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:
        container = client.containers.create("busybox", "sleep 300", volume_driver="foo")
        assert container.attrs["HostConfig"]["VolumeDriver"] == "foo"
        container.remove()
        with pytest.raises(NotFound) as refused:
            client.containers.create("busybox", "true", volume_driver="foo", volumes=["data:/d"])
        assert refused.value.explanation == (
            'create data: error looking up volume plugin foo: plugin "foo" not found'
        )
        assert client.containers.list(all=True) == [] and client.volumes.list() == []
    finally:
        client.close()
