"""Containers and their volumes against berthd, with the docker CLI and docker-py: named
volumes outlive and are shared by containers, `volume rm` of a used one is 409, `rm -v`
and `--rm` remove anonymous ones, a tmpfs volume, the volume events, a refused create."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import docker
import docker.errors
import pytest

from berth.adapters.snapshots.overlay import mounted_paths

from .conftest import Berthd


def ok(result: object) -> str:
    assert getattr(result, "returncode", 1) == 0, getattr(result, "stderr", "")
    return str(getattr(result, "stdout", ""))


def volume_events(daemon: Berthd) -> list[tuple[str, str, dict[str, str]]]:
    events = daemon.docker("events", "--since", "0", "--until", f"{time.time():.3f}",
                           "--filter", "type=volume", "--format", "{{json .}}")  # fmt: skip
    found = [json.loads(line) for line in ok(events).splitlines()]
    return [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in found]


def logs_until(daemon: Berthd, name: str, wanted: str) -> str:
    """The container's output once it has `wanted` (or what it had after 30 s)."""
    deadline = time.monotonic() + 30
    while wanted not in (found := ok(daemon.docker("logs", name))):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return found


def test_a_named_volume_outlives_two_containers_and_is_shared_by_two_running_ones(
    berthd: Berthd,
) -> None:
    ok(berthd.docker("run", "--rm", "-v", "shared:/data", "busybox",
                     "sh", "-c", "echo first > /data/f"))  # fmt: skip
    assert ok(berthd.docker("run", "--rm", "-v", "shared:/data", "busybox", "cat", "/data/f")) == (
        "first\n"
    )
    ok(berthd.docker("run", "-d", "--name", "writer", "-v", "shared:/data", "busybox",
                     "sh", "-c", "echo from-writer > /data/g; exec sleep 300"))  # fmt: skip
    wait_and_read = "until [ -f /data/g ]; do sleep 0.1; done; cat /data/g; exec sleep 300"
    ok(berthd.docker("run", "-d", "--name", "reader", "-v", "shared:/data", "busybox",
                     "sh", "-c", wait_and_read))  # fmt: skip
    assert logs_until(berthd, "reader", "from-writer") == "from-writer\n"
    refused = berthd.docker("volume", "rm", "shared")
    assert refused.returncode == 1
    assert "remove shared: volume is in use - [" in refused.stderr
    ok(berthd.docker("rm", "-f", "writer", "reader"))
    data = berthd.root / "volumes" / "shared" / "_data"
    assert sorted(p.name for p in data.iterdir()) == ["f", "g"]
    assert ok(berthd.docker("volume", "ls", "-q")) == "shared\n"
    events = volume_events(berthd)
    assert events[0] == ("create", "shared", {"driver": "local"})
    mount = next(e[2] for e in events if e[0] == "mount")
    assert mount["destination"] == "/data" and mount["read/write"] == "true"
    assert mount["driver"] == "local" and len(mount["container"]) == 64
    assert set(mount) == {"driver", "container", "destination", "read/write", "propagation"}
    actions = [e[0] for e in events]
    assert actions.count("mount") == actions.count("unmount") == 4
    ok(berthd.docker("volume", "rm", "shared"))
    assert not data.parent.exists()


def test_volume_rm_of_a_used_volume_is_409_also_after_a_restart(
    start_berthd: Callable[..., Berthd],
) -> None:
    daemon = start_berthd()
    ok(daemon.docker("create", "--name", "holder", "-v", "kept:/k", "busybox", "true"))
    daemon.stop()
    daemon = start_berthd()  # the same root: the log says who uses the volume
    client = docker.DockerClient(base_url=f"unix://{daemon.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            client.volumes.get("kept").remove()
        assert refused.value.status_code == 409
        assert client.volumes.list(filters={"dangling": True}) == []
        client.containers.get("holder").remove()
        assert [v.name for v in client.volumes.list(filters={"dangling": True})] == ["kept"]
        client.volumes.get("kept").remove()
        assert client.volumes.list() == []
    finally:
        client.close()


def test_rm_v_removes_anonymous_volumes_and_keeps_named_ones(berthd: Berthd) -> None:
    cid = ok(berthd.docker("create", "-v", "/anon", "-v", "named:/named", "busybox", "true"))
    (doc,) = json.loads(ok(berthd.docker("inspect", cid.strip())))
    anonymous = next(m["Name"] for m in doc["Mounts"] if m["Destination"] == "/anon")
    assert sorted(ok(berthd.docker("volume", "ls", "-q")).split()) == sorted([anonymous, "named"])
    ok(berthd.docker("start", "-a", cid.strip()))
    data = berthd.root / "volumes" / anonymous
    assert data.is_dir()
    ok(berthd.docker("rm", "-v", cid.strip()))
    assert ok(berthd.docker("volume", "ls", "-q")) == "named\n"
    assert not data.exists()
    assert ("destroy", anonymous, {"driver": "local"}) in volume_events(berthd)
    ok(berthd.docker("run", "--rm", "-v", "/auto", "busybox", "true"))
    assert ok(berthd.docker("volume", "ls", "-q")) == "named\n"
    assert sorted(p.name for p in (berthd.root / "volumes").iterdir()) == ["named"]


def test_a_tmpfs_volume_is_a_tmpfs_inside_and_nothing_stays_mounted(berthd: Berthd) -> None:
    ok(berthd.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
                     "-o", "o=size=2m", "scratch"))  # fmt: skip
    seen = ok(berthd.docker("run", "--rm", "-v", "scratch:/s", "busybox",
                            "sh", "-c", "grep ' /s ' /proc/mounts; touch /s/x; ls /s"))  # fmt: skip
    assert seen.splitlines()[0].split()[:3] == ["tmpfs", "/s", "tmpfs"]
    assert "size=2048k" in seen.splitlines()[0] and seen.splitlines()[1] == "x"
    data = berthd.root / "volumes" / "scratch" / "_data"
    assert str(data) not in mounted_paths()
    assert list(data.iterdir()) == []
    again = ok(berthd.docker("run", "--rm", "-v", "scratch:/s", "busybox", "ls", "/s"))
    assert again == ""
    assert str(data) not in mounted_paths()


def test_a_refused_container_create_leaves_no_volume(berthd: Berthd) -> None:
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:
        with pytest.raises(docker.errors.APIError):
            client.containers.create(
                "busybox", "true", volumes={"fresh": {"bind": "/f"}}, name="bad name!"
            )
        with pytest.raises(docker.errors.APIError):  # a setting berth refuses
            client.containers.create("busybox", "true", volumes=["/anon"], mem_limit="1k")
        # Refused at the very save: the name is taken. The volumes were decided with the
        # container, in its transaction, so none is left either.
        client.containers.create("busybox", "true", name="taken")
        with pytest.raises(docker.errors.APIError) as taken:
            client.containers.create("busybox", "true", name="taken", volumes=["fresh:/f", "/anon"])
        assert taken.value.status_code == 409
        assert client.volumes.list() == []
        assert (
            not (berthd.root / "volumes").exists()
            or list((berthd.root / "volumes").iterdir()) == []
        )
    finally:
        client.close()


def test_ps_filters_by_volume_name_or_destination(berthd: Berthd) -> None:
    with_volume = ok(berthd.docker("create", "-v", "picked:/p", "busybox", "true")).strip()
    ok(berthd.docker("create", "-v", "other:/o", "busybox", "true"))
    for value in ("picked", "/p"):
        listed = ok(berthd.docker("ps", "-a", "-q", "--no-trunc", "--filter", f"volume={value}"))
        assert listed.split() == [with_volume]
    assert ok(berthd.docker("ps", "-a", "-q", "--filter", "volume=nothing")) == ""


def test_volume_events_through_docker_py_filters(berthd: Berthd) -> None:
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:
        since = time.time() - 1
        client.volumes.create("evented")
        client.containers.run("busybox", "true", volumes=["evented:/e:ro"], remove=True)
        client.volumes.get("evented").remove()
        events = client.events(
            since=since, until=time.time() + 1, filters={"type": ["volume"]}, decode=True
        )
        seen = [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in events]
        assert seen == [("volume", a, "evented") for a in ("create", "mount", "unmount", "destroy")]
        events = client.events(
            since=since, until=time.time() + 1, filters={"volume": "evented", "event": "mount"},
            decode=True,
        )  # fmt: skip
        (mount,) = list(events)
        assert mount["Actor"]["Attributes"]["read/write"] == "false"
    finally:
        client.close()


def test_mount_volume_options_and_labels_make_the_new_volume(berthd: Berthd) -> None:
    mount = ("type=volume,src=made,dst=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"
             "volume-opt=o=size=1m,volume-label=team=a")  # fmt: skip
    seen = ok(
        berthd.docker("run", "--rm", "--mount", mount, "busybox", "grep", " /m ", "/proc/mounts")
    )
    assert seen.split()[:3] == ["tmpfs", "/m", "tmpfs"]
    (doc,) = json.loads(ok(berthd.docker("volume", "inspect", "made")))
    assert doc["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert doc["Labels"] == {"team": "a"}
    bad = berthd.docker("create", "--mount", "type=volume,src=bad,dst=/b,volume-opt=foo=1",
                        "busybox", "true")  # fmt: skip
    assert bad.returncode != 0 and 'create bad: invalid option: "foo"' in bad.stderr
    assert ok(berthd.docker("volume", "ls", "-q")) == "made\n"
