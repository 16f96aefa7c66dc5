"""Pull, load, import, rmi and garbage collection end to end, against a real registry."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.registry import RegistryClient
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotFound, Unavailable
from berth.runtime.service.engine import Engine
from berth.runtime.service.images import ImageService

from ..conftest import API
from ..fixtures.images import busybox_image, make_image, two_platform_index
from ..fixtures.layers import (
    CharDevice,
    Dir,
    File,
    Hardlink,
    Opaque,
    Symlink,
    Whiteout,
    busybox_layer,
    make_layer,
)
from ..fixtures.registry import RunningRegistry

CID = "cd" * 32


@pytest.fixture
async def service(root: Path, registry: RunningRegistry) -> AsyncIterator[ImageService]:
    with Engine(root) as engine:
        images = ImageService(engine)
        async with RegistryClient(images.content, insecure=[registry.host]) as client:
            images.registry = client
            yield images


def ref(registry: RunningRegistry, name: str, tag: str = "latest") -> str:
    return f"{registry.host}/{name}:{tag}"


async def test_pull_records_the_image_and_reports_dockers_progress(
    service: ImageService, registry: RunningRegistry
) -> None:
    image = busybox_image()
    registry.push("library/busybox", image)
    messages: list[dict[str, Any]] = []
    image_id = await service.pull(ref(registry, "library/busybox"), API, messages.append)
    assert image_id == image.config_digest
    (entry,) = service.engine.images.list_entries()
    assert entry["Id"] == image_id
    assert entry["RepoTags"] == [ref(registry, "library/busybox")]
    assert entry["RepoDigests"] == [f"{registry.host}/library/busybox@{image.digest}"]
    assert entry["Size"] > 1_000_000  # the unpacked busybox binary
    statuses = [m["status"] for m in messages]
    layer_id = image.layers[0].digest[7:19]
    for expected in (
        "Pulling fs layer",
        "Downloading",
        "Verifying Checksum",
        "Download complete",
        "Extracting",
        "Pull complete",
    ):
        assert expected in statuses
    assert statuses.index("Download complete") < statuses.index("Pull complete")
    assert statuses[0] == "Pulling from library/busybox"
    assert statuses[-2] == f"Digest: {image.digest}"
    assert statuses[-1] == f"Status: Downloaded newer image for {ref(registry, 'library/busybox')}"
    assert {m.get("id") for m in messages if m["status"] == "Pull complete"} == {layer_id}
    again: list[dict[str, Any]] = []
    await service.pull(ref(registry, "library/busybox"), API, again.append)
    assert again[-1]["status"].startswith("Status: Image is up to date for")
    assert "Already exists" in [m["status"] for m in again]


async def test_a_pulled_image_mounts_as_a_container_root(
    service: ImageService, registry: RunningRegistry
) -> None:
    base = make_layer(
        {
            "etc/": Dir(),
            "etc/gone": File(b"x"),
            "etc/keep": File(b"k"),
            "opt/": Dir(),
            "opt/old": File(b"o"),
        },
        compression="zstd",
    )
    top = make_layer(
        {
            "etc/gone": Whiteout(),
            "opt/": Dir(),
            "opt": Opaque(),
            "opt/new": File(b"n"),
            "bin/": Dir(),
            "bin/tool": File(b"#!", mode=0o4755),
            "bin/again": Hardlink("bin/tool"),
            "bin/abs": Symlink("/etc/keep"),
            "dev/": Dir(),
            "dev/null": CharDevice(1, 3),
        },
        compression="none",
    )
    registry.push("app", make_image([busybox_layer(), base, top]))
    image_id = await service.pull(ref(registry, "app"), API)
    rootfs = await service.mount_rootfs(CID, image_id)
    try:
        assert (rootfs / "bin/busybox").stat().st_size > 1_000_000
        assert not (rootfs / "etc/gone").exists()
        assert (rootfs / "etc/keep").read_bytes() == b"k"
        assert sorted(os.listdir(rootfs / "opt")) == ["new"]
        assert (rootfs / "bin/tool").stat().st_mode & 0o4000
        assert (rootfs / "bin/tool").stat().st_ino == (rootfs / "bin/again").stat().st_ino
        assert os.readlink(rootfs / "bin/abs") == "/etc/keep"
        assert os.major((rootfs / "dev/null").stat().st_rdev) == 1
    finally:
        await service.unmount_rootfs(CID)
    assert not service.snapshots.container_dir(CID).exists()


async def test_an_index_resolves_to_linux_amd64(
    service: ImageService, registry: RunningRegistry
) -> None:
    index = two_platform_index([busybox_layer()])
    registry.push("multi", index)
    image_id = await service.pull(ref(registry, "multi"), API)
    amd64 = next(i for i in index.images if i.platform["architecture"] == "amd64")
    assert image_id == amd64.config_digest
    assert service.engine.images.inspect(image_id)["Architecture"] == "amd64"


async def test_a_120_layer_image_pulls_and_mounts(
    service: ImageService, registry: RunningRegistry
) -> None:
    layers = [make_layer({f"f{i}": File(str(i).encode())}, compression="none") for i in range(120)]
    registry.push("tall", make_image(layers))
    image_id = await service.pull(ref(registry, "tall"), API)
    rootfs = await service.mount_rootfs(CID, image_id)
    try:
        assert (rootfs / "f0").read_text() == "0" and (rootfs / "f119").read_text() == "119"
    finally:
        await service.unmount_rootfs(CID)


def assert_nothing_recorded(service: ImageService, before: int) -> None:
    assert service.engine.store.max_position() == before
    assert service.engine.images.list_entries() == []
    assert os.listdir(service.snapshots.root / "tmp") == []


async def test_a_lying_diff_id_fails_the_pull_and_records_nothing(
    service: ImageService, registry: RunningRegistry
) -> None:
    layer = make_layer({"a": File(b"1")})
    registry.push(
        "liar",
        make_image(
            [layer], extra_config={"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}
        ),
    )
    before = service.engine.store.max_position()
    with pytest.raises(InvalidParameter, match="diff id"):
        await service.pull(ref(registry, "liar"), API)
    assert_nothing_recorded(service, before)
    assert service.snapshots.layers() == []


async def test_a_tampered_blob_fails_and_nothing_is_committed(
    service: ImageService, registry: RunningRegistry
) -> None:
    image = make_image([make_layer({"a": File(b"1" * 1000)})])
    registry.push("tampered", image)
    blob = registry.blob_path(image.layers[0].digest)
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    before = service.engine.store.max_position()
    with pytest.raises(InvalidParameter, match="failed to verify digest"):
        await service.pull(ref(registry, "tampered"), API)
    assert_nothing_recorded(service, before)
    assert not service.content.has(image.layers[0].digest)


async def test_unknown_tag_and_registry_down(
    service: ImageService, registry: RunningRegistry
) -> None:
    before = service.engine.store.max_position()
    with pytest.raises(NotFound, match="manifest unknown"):
        await service.pull(ref(registry, "nothing", "here"), API)
    with pytest.raises(Unavailable, match="connection refused"):
        await service.pull("127.0.0.1:1/x:latest", API)
    assert_nothing_recorded(service, before)


async def test_token_auth_pull(root: Path, token_registry: RunningRegistry) -> None:
    image = busybox_image()
    token_registry.push("private/app", image)
    assert token_registry.credentials is not None
    assert token_registry.token_server is not None
    with Engine(root) as engine:
        service = ImageService(engine)
        async with RegistryClient(
            service.content,
            insecure=[token_registry.host, token_registry.token_server.host],
            credentials={token_registry.host: token_registry.credentials},
        ) as client:
            service.registry = client
            assert (
                await service.pull(ref(token_registry, "private/app"), API) == image.config_digest
            )


async def test_rmi_collects_unshared_blobs_and_layers(
    service: ImageService, registry: RunningRegistry
) -> None:
    shared = busybox_layer()
    one = make_image([shared, make_layer({"one": File(b"1")})])
    two = make_image([shared, make_layer({"two": File(b"2")})])
    registry.push("one", one)
    registry.push("two", two)
    await service.pull(ref(registry, "one"), API)
    await service.pull(ref(registry, "two"), API)
    assert len(service.snapshots.layers()) == 3
    await service.remove(ref(registry, "one"), API)
    assert len(service.snapshots.layers()) == 2
    assert not service.content.has(one.layers[1].digest)
    assert not service.content.has(one.config_digest)
    assert service.content.has(shared.digest)
    await service.remove(ref(registry, "two"), API)
    assert service.snapshots.layers() == []
    assert service.content.digests() == []


async def test_rmi_of_an_image_in_use_is_refused_then_forced(
    service: ImageService, registry: RunningRegistry
) -> None:
    registry.push("used", busybox_image())
    name = ref(registry, "used")
    await service.pull(name, API)
    cid = service.engine.create_container({"Image": name}, "user", API).id
    with pytest.raises(Conflict, match="must force"):
        await service.remove(name, API)
    await service.remove(name, API, force=True)
    assert service.engine.images.list_entries() == []
    assert len(service.snapshots.layers()) == 1  # the container still needs its layers
    service.engine.remove(cid, API)
    await service.collect_garbage()
    assert service.snapshots.layers() == []


def skopeo_copy(source: str, destination: str) -> None:
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", source, destination],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
async def test_load_of_docker_save_and_oci_archives(
    service: ImageService, registry: RunningRegistry, tmp_path: Path, transport: str
) -> None:
    image = make_image(
        [
            busybox_layer(),
            make_layer(
                {"x": File(b"y")}, compression="zstd" if transport == "oci-archive" else "gzip"
            ),
        ]
    )
    registry.push("saved", image)
    archive = tmp_path / "image.tar"
    name = "saved:v1" if transport == "docker-archive" else "example.com/saved:v1"
    skopeo_copy(f"docker://{ref(registry, 'saved')}", f"{transport}:{archive}:{name}")
    lines = await service.load(archive, API)
    image_id = service.engine.images.resolve(name)
    assert lines == [f"Loaded image: {service.engine.images.inspect(image_id)['RepoTags'][0]}"]
    rootfs = await service.mount_rootfs(CID, image_id)
    try:
        assert (rootfs / "x").read_bytes() == b"y"
        assert (rootfs / "bin/busybox").exists()
    finally:
        await service.unmount_rootfs(CID)


async def test_import_of_a_rootfs_tarball(service: ImageService, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    tarball = tmp_path / "rootfs.tar.gz"
    tarball.write_bytes(gzip.compress(buffer.getvalue()))
    image_id = await service.import_rootfs(tarball, "imported:1", API, "from a test")
    document = service.engine.images.inspect("imported:1")
    assert document["Id"] == image_id
    assert document["RootFS"]["Layers"] == [
        "sha256:" + __import__("hashlib").sha256(buffer.getvalue()).hexdigest()
    ]
    rootfs = await service.mount_rootfs(CID, image_id)
    try:
        assert (rootfs / "hello.txt").read_text() == "hello"
    finally:
        await service.unmount_rootfs(CID)


async def test_errors_are_domain_errors(service: ImageService) -> None:
    with pytest.raises(BerthError):
        await service.pull("UPPER/case", API)


async def test_a_blob_repeated_in_one_image_unpacks_at_each_position(
    service: ImageService, registry: RunningRegistry
) -> None:
    empty = make_layer({})
    middle = make_layer({"m": File(b"m")})
    registry.push("repeats", make_image([empty, middle, empty]))
    image_id = await service.pull(ref(registry, "repeats"), API)
    assert len(service.snapshots.layers()) == 3
    rootfs = await service.mount_rootfs(CID, image_id)
    try:
        assert (rootfs / "m").read_bytes() == b"m"
    finally:
        await service.unmount_rootfs(CID)
