"""docker-py's own volume tests (VolumeBindTest, test_run_with_volume), against berthd."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import ContainerError
from docker.types import Mount

from .conftest import Berthd

MOUNT_DEST = "/mnt"
FILENAME = "shared.txt"


@pytest.fixture
def clients(berthd: Berthd) -> Iterator[tuple[docker.DockerClient, docker.APIClient]]:
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        yield client, client.api
    finally:
        client.close()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """VolumeBindTest's mount_origin: a fresh host directory."""
    path = tmp_path / "origin"
    path.mkdir()
    return path


def _run_with_volume(api: docker.APIClient, origin: Path, ro: bool, cmd: list[str]) -> str:
    """VolumeBindTest.run_with_volume: a Volumes entry and a bind at the same place."""
    container = api.create_container(
        "busybox",
        cmd,
        volumes={MOUNT_DEST: {}},
        host_config=api.create_host_config(
            binds={str(origin): {"bind": MOUNT_DEST, "ro": ro}}, network_mode="none"
        ),
    )
    container_id: str = container["Id"]
    api.start(container_id)
    api.wait(container_id)
    return container_id


def _check_container_data(doc: dict[str, Any], origin: Path, rw: bool) -> None:
    (mount,) = [m for m in doc["Mounts"] if m["Destination"] == MOUNT_DEST]
    assert mount["Source"] == str(origin)
    assert mount["RW"] is rw
    assert mount["Propagation"] == "rprivate"


def test_volume_bind_rw_and_ro(
    clients: tuple[docker.DockerClient, docker.APIClient], origin: Path
) -> None:
    _, api = clients
    _run_with_volume(api, origin, False, ["busybox", "touch", f"{MOUNT_DEST}/{FILENAME}"])
    assert (origin / FILENAME).exists()
    listed = _run_with_volume(api, origin, False, ["busybox", "ls", MOUNT_DEST])
    assert FILENAME in api.logs(listed).decode()
    _check_container_data(api.inspect_container(listed), origin, True)
    refused = _run_with_volume(api, origin, True, ["busybox", "touch", f"{MOUNT_DEST}/wont"])
    assert api.inspect_container(refused)["State"]["ExitCode"] != 0
    assert not (origin / "wont").exists()
    read_only = _run_with_volume(api, origin, True, ["busybox", "ls", MOUNT_DEST])
    assert FILENAME in api.logs(read_only).decode()
    _check_container_data(api.inspect_container(read_only), origin, False)


def test_create_with_mounts(
    clients: tuple[docker.DockerClient, docker.APIClient], origin: Path
) -> None:
    _, api = clients
    mounts = [
        Mount(type="bind", source=str(origin), target=MOUNT_DEST, read_only=True),
        Mount(type="volume", source="py-volume", target="/vol"),
    ]
    container = api.create_container(
        "busybox", ["true"], host_config=api.create_host_config(mounts=mounts)
    )
    doc = api.inspect_container(container["Id"])
    by_dest = {m["Destination"]: m for m in doc["Mounts"]}
    assert by_dest[MOUNT_DEST] == {
        "Type": "bind", "Source": str(origin), "Destination": MOUNT_DEST, "Mode": "",
        "RW": False, "Propagation": "rprivate",
    }  # fmt: skip
    assert by_dest["/vol"]["Name"] == "py-volume"
    assert (by_dest["/vol"]["Driver"], by_dest["/vol"]["Mode"]) == ("local", "z")
    assert doc["HostConfig"]["Mounts"][0]["Source"] == str(origin)  # as given
    filtered = api.containers(all=True, filters={"volume": "py-volume"})
    assert [c["Id"] for c in filtered] == [container["Id"]]
    # As dockerd (daemon/list.go): any mount by destination, a named one by its name and
    # one without a name by its source; not a named volume by its data's path.
    assert api.containers(all=True, filters={"volume": by_dest["/vol"]["Source"]}) == []
    for value in (MOUNT_DEST, str(origin), "/vol"):
        found = api.containers(all=True, filters={"volume": value})
        assert [c["Id"] for c in found] == [container["Id"]]
    api.remove_container(container["Id"], v=True)
    assert os.path.isdir(Path(by_dest["/vol"]["Source"]))  # a named volume stays


def test_run_with_volume(
    clients: tuple[docker.DockerClient, docker.APIClient], tmp_path: Path
) -> None:
    client, _ = clients
    path = tmp_path / "inside"
    path.mkdir()
    writer = client.containers.run(
        "busybox",
        ["sh", "-c", 'echo "hello" > /insidecontainer/test'],
        volumes=[f"{path}:/insidecontainer"],
        detach=True,
    )
    writer.wait()
    out = client.containers.run(
        "busybox",
        ["busybox", "cat", "/insidecontainer/test"],
        volumes=[f"{path}:/insidecontainer"],
        name="container_volume_test",
    )
    assert out == b"hello\n"
    with pytest.raises(ContainerError):
        client.containers.run(
            "busybox",
            ["sh", "-c", "echo x > /insidecontainer/test"],
            volumes={str(path): {"bind": "/insidecontainer", "mode": "ro"}},
            remove=True,
        )
    assert (path / "test").read_text() == "hello\n"


def test_create_with_subpath_volume_mount(
    clients: tuple[docker.DockerClient, docker.APIClient],
) -> None:
    """docker-py's (API 1.45's VolumeOptions.Subpath), and a link in the volume that
    points out of it: resolved inside the volume, as if it were `/`."""
    client, api = clients
    client.volumes.create("subvol")
    client.containers.run(
        "busybox",
        ["sh", "-c", 'mkdir -p /vol/subdir && echo "test content" > /vol/subdir/testfile.txt'
         " && ln -s /etc /vol/out && ln -s /subdir /vol/in"],
        volumes=["subvol:/vol"],
        remove=True,
    )  # fmt: skip

    def cat(subpath: str, path: str) -> bytes:
        mount = Mount(MOUNT_DEST, "subvol", type="volume", read_only=True, subpath=subpath)
        return bytes(
            client.containers.run("busybox", ["cat", path], mounts=[mount], remove=True)
        )

    assert cat("subdir", f"{MOUNT_DEST}/testfile.txt") == b"test content\n"
    assert cat("subdir/testfile.txt", MOUNT_DEST) == b"test content\n"  # a file
    assert cat("in", f"{MOUNT_DEST}/testfile.txt") == b"test content\n"  # /subdir: the volume's
    for escaping in ("out", "nosuch"):  # /etc of the volume: there is none
        mount = Mount(MOUNT_DEST, "subvol", type="volume", subpath=escaping)
        container = api.create_container(
            "busybox", ["true"], host_config=api.create_host_config(mounts=[mount])
        )
        with pytest.raises(docker.errors.APIError, match=r"cannot access path .*/_data/"):
            api.start(container)
        api.remove_container(container)
    with pytest.raises(docker.errors.APIError, match="relative path within the volume"):
        api.create_container(
            "busybox",
            ["true"],
            host_config=api.create_host_config(
                mounts=[Mount(MOUNT_DEST, "subvol", type="volume", subpath="../x")]
            ),
        )
