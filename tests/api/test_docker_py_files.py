"""docker-py's own integration tests of files in and out of containers (ArchiveTest,
DiffTest, ExportTest, CommitTest in tests/integration/api_container_test.py and
api_image_test.py), ported against berthd with busybox as the test image."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from docker.models.images import ImageCollection

from .conftest import Berthd

TEST_IMG = "busybox"
# The test image has no `touch` link: its sh runs busybox applets itself.
TOUCH = ["sh", "-c", "touch /test"]
DATA = "The Maid and the Pocket Watch of Blood"


@pytest.fixture
def api(berthd: Berthd) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        yield client
    finally:
        client.close()


def _run(api: docker.APIClient, command: str | list[str], **options: object) -> str:
    container = api.create_container(TEST_IMG, command, **options)
    container_id: str = container["Id"]
    api.start(container_id)
    assert api.wait(container_id)["StatusCode"] == 0
    return container_id


def _untar_file(data: bytes, name: str) -> bytes:
    """docker-py's helpers.untar_file."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_get_file_archive_from_container(api: docker.APIClient) -> None:
    ctnr = _run(api, f'sh -c "echo {DATA} > /vol1/data.txt"', volumes=["/vol1"])
    stream, _ = api.get_archive(ctnr, "/vol1/data.txt")
    assert _untar_file(b"".join(stream), "data.txt").decode().strip() == DATA
    api.remove_container(ctnr, v=True)


def test_get_file_stat_from_container(api: docker.APIClient) -> None:
    ctnr = _run(api, f'sh -c "echo -n {DATA} > /vol1/data.txt"', volumes=["/vol1"])
    _, stat = api.get_archive(ctnr, "/vol1/data.txt")
    assert stat["name"] == "data.txt"
    assert stat["size"] == len(DATA)
    api.remove_container(ctnr, v=True)


def test_copy_file_to_container(api: docker.APIClient, tmp_path: Path) -> None:
    data = b"Deaf To All But The Song"
    test_file = tmp_path / "test_file"
    test_file.write_bytes(data)
    ctnr = api.create_container(TEST_IMG, f"cat /vol1/{test_file.name}", volumes=["/vol1"])
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:  # docker-py's helpers.simple_tar
        tar.add(test_file, arcname=test_file.name)
    api.put_archive(ctnr, "/vol1", archive.getvalue())
    api.start(ctnr)
    api.wait(ctnr)
    assert api.logs(ctnr, stdout=True, stderr=False).strip() == data
    api.remove_container(ctnr, v=True)


def test_copy_directory_to_container(api: docker.APIClient) -> None:
    base = Path(tempfile.mkdtemp())
    for name in ("foo", "bar"):
        (base / name).mkdir()
    for name in ("a.py", "b.py", "foo/b.py"):
        (base / name).write_text("content")
    ctnr = api.create_container(TEST_IMG, "ls -p /vol1", volumes=["/vol1"])
    with docker.utils.tar(str(base)) as test_tar:
        api.put_archive(ctnr, "/vol1", test_tar)
    api.start(ctnr)
    api.wait(ctnr)
    results = api.logs(ctnr, stdout=True, stderr=False).decode().strip().split()
    assert {"a.py", "b.py", "foo/", "bar/"} <= set(results)
    api.remove_container(ctnr, v=True)
    for path in sorted(base.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    os.rmdir(base)


def test_diff(api: docker.APIClient) -> None:
    ctnr = _run(api, TOUCH)
    test_diff = [x for x in api.diff(ctnr) if x.get("Path") == "/test"]
    assert test_diff == [{"Path": "/test", "Kind": 1}]


def test_export(api: docker.APIClient) -> None:
    ctnr = _run(api, TOUCH)
    with tempfile.TemporaryFile() as destination:
        for data in api.export(ctnr):
            destination.write(data)
        destination.seek(0)
        with tarfile.open(fileobj=destination) as tar:
            assert "test" in tar.getnames()


def test_commit(api: docker.APIClient) -> None:
    ctnr = _run(api, TOUCH)
    res = api.commit(ctnr)
    img = api.inspect_image(res["Id"])
    assert img["Container"].startswith(ctnr)
    assert img["ContainerConfig"]["Image"] == TEST_IMG
    assert img["Parent"] == api.inspect_image(TEST_IMG)["Id"]


def test_commit_with_changes(api: docker.APIClient) -> None:
    ctnr = _run(api, TOUCH)
    img_id = api.commit(ctnr, changes=["EXPOSE 8000", 'CMD ["bash"]'])
    img = api.inspect_image(img_id)
    assert img["Container"].startswith(ctnr)
    assert "8000/tcp" in img["Config"]["ExposedPorts"]
    assert img["Config"]["Cmd"] == ["bash"]


def test_commit_of_a_container_that_is_exiting(api: docker.APIClient) -> None:
    """docker-py's test_commit does not wait for `touch` to exit: the commit's pause finds
    it stopping, or its unpause finds it exited, which dockerd ignores both."""
    for _ in range(5):
        ctnr = api.create_container(TEST_IMG, TOUCH)["Id"]
        api.start(ctnr)
        img = api.inspect_image(api.commit(ctnr)["Id"])
        assert img["Parent"] == api.inspect_image(TEST_IMG)["Id"]
        assert api.wait(ctnr)["StatusCode"] == 0
        assert api.inspect_container(ctnr)["State"]["Paused"] is False


def _dummy_tar(n_bytes: int) -> bytes:
    """docker-py's ImportImageTest.write_dummy_tar_content."""
    data = os.urandom(n_bytes)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("testdata")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def test_import_image_from_data_with_changes(api: docker.APIClient) -> None:
    changes = ["USER foobar", 'CMD ["echo"]']
    statuses = api.import_image_from_data(
        _dummy_tar(500), repository="test/import-from-bytes", changes=changes
    )
    result = json.loads(statuses.splitlines()[-1])
    assert "error" not in result
    img = api.inspect_image(result["status"])
    assert img["Config"]["Cmd"] == ["echo"]
    assert img["Config"]["User"] == "foobar"
    assert img["RepoTags"] == ["test/import-from-bytes:latest"]


def test_import_with_a_change_a_commit_refuses_imports_nothing(api: docker.APIClient) -> None:
    before = api.images(all=True)
    with pytest.raises(docker.errors.APIError) as refused:
        api.import_image_from_data(_dummy_tar(10), repository="test/x", changes=["FROM busybox"])
    assert refused.value.status_code == 400
    assert refused.value.explanation == "from is not a valid change command"
    assert api.images(all=True) == before


def test_build_is_refused_naming_it(api: docker.APIClient) -> None:
    """models_images_test's test_build: a 400 that says berth does not build, not the
    404 of a route that is not there."""
    dockerfile = io.BytesIO(b"FROM busybox\nRUN true\n")
    with pytest.raises(docker.errors.APIError) as refused:
        list(api.build(fileobj=dockerfile, tag="built"))
    assert refused.value.status_code == 400
    assert "docker build is not supported by berth" in str(refused.value.explanation)


def test_load_error(api: docker.APIClient) -> None:
    """models_images_test's test_load_error: dockerd answers a load it refuses with 200
    and the error in the stream, which docker-py raises as ImageLoadError."""
    before = api.images(all=True)
    images = ImageCollection(client=SimpleNamespace(api=api))
    with pytest.raises(docker.errors.ImageLoadError):
        images.load(b"abc")
    assert api.images(all=True) == before
