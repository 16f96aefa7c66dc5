"""`/volumes` against berthd, through docker-py and the real docker CLI: dockerd's shapes,
statuses and words, the data directory on disk, and the volume events."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from .conftest import Berthd

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)")


def client_of(daemon: Berthd) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)


def test_docker_py_creates_lists_inspects_removes_and_prunes(berthd: Berthd) -> None:
    client = client_of(berthd)
    try:
        made = client.volumes.create("data", labels={"team": "a"})
        assert made.name == "data"
        attrs = made.attrs
        assert set(attrs) == {
            "CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope",
        }  # fmt: skip
        assert RFC3339.fullmatch(attrs["CreatedAt"])
        assert (attrs["Driver"], attrs["Scope"], attrs["Labels"]) == (
            "local",
            "local",
            {"team": "a"},
        )
        assert attrs["Options"] is None  # docker-py sends DriverOpts null, as dockerd echoes
        data = Path(attrs["Mountpoint"])
        assert data == berthd.root / "volumes" / "data" / "_data" and data.is_dir()
        assert stat.S_IMODE(data.parent.stat().st_mode) == 0o700
        assert client.volumes.create("data").attrs == attrs  # the existing one, as it is
        anonymous = client.volumes.create()
        assert re.fullmatch(r"[0-9a-f]{64}", anonymous.name)
        assert sorted(v.name for v in client.volumes.list()) == sorted(["data", anonymous.name])
        assert [v.name for v in client.volumes.list(filters={"label": "team=a"})] == ["data"]
        assert [v.name for v in client.volumes.list(filters={"name": "^da"})] == ["data"]
        assert client.volumes.list(filters={"driver": "other"}) == []
        assert client.volumes.get("data").attrs == attrs
        pruned = client.volumes.prune(filters={"label": "team=a"})
        assert pruned["VolumesDeleted"] == ["data"] and pruned["SpaceReclaimed"] == 0
        assert not data.parent.exists()
        with pytest.raises(docker.errors.NotFound, match="get data: no such volume"):
            client.volumes.get("data")
        client.volumes.get(anonymous.name).remove()
        assert client.volumes.list() == []
        assert list((berthd.root / "volumes").iterdir()) == []
    finally:
        client.close()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"Name": "a"}, 400, "create a: volume name is too short"),
        ({"Name": "../x"}, 400, "includes invalid characters for a local volume name"),
        ({"Name": "v1", "DriverOpts": {"foo": "1"}}, 400, 'create v1: invalid option: "foo"'),
        ({"Name": "v1", "DriverOpts": {"type": "tmpfs"}}, 400, 'missing required option: "device"'),
        ({"Name": "v1", "Driver": "nfs"}, 404, 'plugin "nfs" not found'),
    ],
)
def test_a_refused_create_records_nothing(
    berthd: Berthd, body: dict[str, object], status: int, message: str
) -> None:
    api = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            api._result(api._post_json(api._url("/volumes/create"), data=body), True)
        assert refused.value.status_code == status
        assert message in str(refused.value.explanation)
        assert api.volumes()["Volumes"] == []
        assert not (berthd.root / "volumes").exists() or not list(
            (berthd.root / "volumes").iterdir()
        )
    finally:
        api.close()


def test_list_refuses_an_unknown_filter_and_answers_dockers_shape(berthd: Berthd) -> None:
    api = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:
        assert api.volumes() == {"Volumes": [], "Warnings": None}
        with pytest.raises(docker.errors.APIError, match="Invalid filter 'nope'"):
            api.volumes(filters={"nope": "x"})
        with pytest.raises(docker.errors.APIError, match="Invalid filter 'dangling"):
            api.volumes(filters={"dangling": "maybe"})
    finally:
        api.close()


def test_docker_cli_volume_commands(berthd: Berthd) -> None:
    created = berthd.docker("volume", "create", "--label", "a=b", "-o", "type=tmpfs",
                            "-o", "device=tmpfs", "-o", "o=size=1m", "scratch")  # fmt: skip
    assert (created.returncode, created.stdout) == (0, "scratch\n"), created.stderr
    (doc,) = json.loads(berthd.docker("volume", "inspect", "scratch").stdout)
    assert doc["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert doc["Labels"] == {"a": "b"}
    listed = berthd.docker("volume", "ls", "-q", "-f", "dangling=true")
    assert listed.stdout.split() == ["scratch"]
    table = berthd.docker("volume", "ls").stdout.splitlines()
    assert table[0].split() == ["DRIVER", "VOLUME", "NAME"] and table[1].split() == [
        "local",
        "scratch",
    ]
    # A volume with options holds no data of this disk: prune leaves it, as dockerd's.
    pruned = berthd.docker("volume", "prune", "-f")
    assert pruned.returncode == 0 and "scratch" not in pruned.stdout
    missing = berthd.docker("volume", "rm", "nope")
    assert missing.returncode == 1
    assert "get nope: no such volume" in missing.stderr
    assert berthd.docker("volume", "rm", "-f", "nope").returncode == 0
    assert berthd.docker("volume", "rm", "scratch").stdout == "scratch\n"
    assert berthd.docker("volume", "ls", "-q").stdout == ""


def test_volume_events_create_and_destroy(berthd: Berthd) -> None:
    assert berthd.docker("volume", "create", "evented").returncode == 0
    assert berthd.docker("volume", "rm", "evented").returncode == 0
    events = berthd.docker(
        "events", "--since", "0", "--until", f"{time.time():.3f}", "--filter",
        "type=volume", "--format", "{{json .}}",
    )  # fmt: skip
    seen = [json.loads(line) for line in events.stdout.splitlines()]
    assert [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in seen] == [
        ("create", "evented", {"driver": "local"}),
        ("destroy", "evented", {"driver": "local"}),
    ]
