"""Mounts through the real docker CLI against berthd: binds, volumes, tmpfs, read-only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.images import make_image
from tests.fixtures.layers import Dir, File, Symlink, busybox_layer, make_layer
from tests.fixtures.registry import RunningRegistry

from .conftest import Berthd


def _mounts(daemon: Berthd, name: str) -> list[dict[str, object]]:
    inspect = daemon.docker("inspect", "--format", "{{json .Mounts}}", name)
    assert inspect.returncode == 0, inspect.stderr
    found: list[dict[str, object]] = json.loads(inspect.stdout)
    return found


def test_bind_writes_land_on_the_host_and_ro_refuses(berthd: Berthd, tmp_path: Path) -> None:
    host = tmp_path / "data"
    host.mkdir()
    run = berthd.docker(
        "run", "--name", "writer", "-v", f"{host}:/data", "busybox",
        "sh", "-c", "echo kept > /data/f",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (host / "f").read_text() == "kept\n"
    assert _mounts(berthd, "writer") == [
        {"Type": "bind", "Source": str(host), "Destination": "/data", "Mode": "",
         "RW": True, "Propagation": "rprivate"},
    ]  # fmt: skip
    assert berthd.docker("rm", "writer").returncode == 0
    assert (host / "f").read_text() == "kept\n"  # the data outlives the container
    ro = berthd.docker(
        "run", "--rm", "-v", f"{host}:/data:ro", "busybox", "sh", "-c", "echo x > /data/g"
    )
    assert ro.returncode != 0
    assert "Read-only file system" in ro.stderr
    assert not (host / "g").exists()
    readonly = berthd.docker(
        "run", "--rm", "--mount", f"type=bind,source={host},target=/data,readonly",
        "busybox", "sh", "-c", "echo x > /data/g",
    )  # fmt: skip
    assert readonly.returncode != 0
    assert "Read-only file system" in readonly.stderr


def test_missing_v_source_is_created_and_missing_mount_source_refused(
    berthd: Berthd, tmp_path: Path
) -> None:
    made = tmp_path / "made" / "deeper"
    run = berthd.docker("run", "--rm", "-v", f"{made}:/x", "busybox", "true")
    assert run.returncode == 0, run.stderr
    assert made.is_dir()
    assert made.stat().st_mode & 0o777 == 0o755
    missing = tmp_path / "missing"
    refused = berthd.docker(
        "create",
        "--name",
        "never",
        "--mount",
        f"type=bind,source={missing},target=/x",
        "busybox",
        "true",
    )
    assert refused.returncode != 0
    assert (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}'
        in refused.stderr
    )
    assert berthd.docker("ps", "-aq").stdout == ""
    assert not missing.exists()


def test_tmpfs_is_empty_on_each_start_and_size_limited(berthd: Berthd) -> None:
    create = berthd.docker(
        "create", "--name", "scratch", "--tmpfs", "/run/t:size=1m", "busybox",
        "sh", "-c", "ls /run/t; echo x > /run/t/f; dd if=/dev/zero of=/run/t/b bs=1k count=2048",
    )  # fmt: skip
    assert create.returncode == 0, create.stderr
    for _ in range(2):
        start = berthd.docker("start", "-a", "scratch")
        assert start.returncode != 0  # dd fails: the tmpfs is 1 MiB
        assert start.stdout == ""  # ls: nothing left of the last run
        assert "No space left on device" in start.stderr
    assert _mounts(berthd, "scratch") == []  # --tmpfs is not a mount point, as dockerd


def test_read_only_root_with_a_tmpfs_tmp(berthd: Berthd) -> None:
    run = berthd.docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c",
        "echo ok > /tmp/f && busybox cat /tmp/f && cat /etc/hostname >/dev/null; "
        "echo x > /f || echo refused",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "ok\nrefused\n"
    assert "Read-only file system" in run.stderr


def test_named_volume_is_shared_and_outlives_its_containers(berthd: Berthd) -> None:
    first = berthd.docker(
        "run", "-d", "--name", "one", "-v", "shared:/v", "busybox",
        "sh", "-c", "echo from-one > /v/f; sleep 30",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = berthd.docker(
        "run", "-d", "--name", "two", "-v", "shared:/w", "busybox", "sleep", "30"
    )
    assert second.returncode == 0, second.stderr
    read = ""
    for _ in range(50):
        read = berthd.docker("exec", "two", "busybox", "cat", "/w/f").stdout
        if read:
            break
    (mount,) = _mounts(berthd, "two")
    source = berthd.root / "volumes" / "shared" / "_data"
    assert mount == {
        "Type": "volume", "Name": "shared", "Source": str(source), "Destination": "/w",
        "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
    }  # fmt: skip
    assert berthd.docker("rm", "-f", "-v", "one", "two").returncode == 0
    assert (source / "f").read_text() == "from-one\n"
    third = berthd.docker(
        "run", "--rm", "-v", "shared:/v", "busybox", "sh", "-c", "echo $(busybox cat /v/f)"
    )
    assert (third.returncode, third.stdout) == (0, "from-one\n"), third.stderr
    assert (berthd.root / "volumes").stat().st_mode & 0o777 == 0o700


def test_image_volume_is_copied_up_and_rm_v_removes_it(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    content = make_layer(
        {
            "seed/": Dir(mode=0o750, uid=7, gid=8),
            "seed/a.txt": File(b"from the image\n", mode=0o640, uid=5, gid=6),
            "seed/link": Symlink("a.txt"),
        }
    )
    config = {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/seed": {}}}
    registry.push("library/seeded", make_image([busybox_layer(), content], config=config))
    daemon = start_berthd(insecure=(registry.host,))
    image = f"{registry.host}/library/seeded:latest"
    assert daemon.docker("pull", image).returncode == 0
    run = daemon.docker("run", "--name", "seeded", image, "sh", "-c", "echo more > /seed/b")
    assert run.returncode == 0, run.stderr
    (mount,) = _mounts(daemon, "seeded")
    name = str(mount["Name"])
    assert len(name) == 64
    assert (mount["Type"], mount["Mode"], mount["Destination"]) == ("volume", "", "/seed")
    data = Path(str(mount["Source"]))
    assert data == daemon.root / "volumes" / name / "_data"
    assert (data / "a.txt").read_text() == "from the image\n"
    status = os.stat(data / "a.txt")
    assert (status.st_mode & 0o777, status.st_uid, status.st_gid) == (0o640, 5, 6)
    assert os.readlink(data / "link") == "a.txt"
    top = os.stat(data)
    assert (top.st_mode & 0o777, top.st_uid, top.st_gid) == (0o750, 7, 8)
    assert (data / "b").read_text() == "more\n"
    assert daemon.docker("rm", "-v", "seeded").returncode == 0
    assert not (daemon.root / "volumes" / name).exists()
    nocopy = daemon.docker(
        "run", "--rm", "-v", "empty:/seed:nocopy", image, "busybox", "ls", "/seed"
    )
    assert (nocopy.returncode, nocopy.stdout) == (0, ""), nocopy.stderr


def test_a_symlink_in_the_image_cannot_point_a_mount_at_the_host(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry, tmp_path: Path
) -> None:
    hostile = make_layer({"etc/": Dir(), "etc/marker": b"image\n", "data": Symlink("/etc")})
    registry.push("library/hostile", make_image([busybox_layer(), hostile]))
    daemon = start_berthd(insecure=(registry.host,))
    image = f"{registry.host}/library/hostile:latest"
    assert daemon.docker("pull", image).returncode == 0
    source = tmp_path / "x"
    source.mkdir()
    (source / "mine").write_text("bound\n")
    host_etc = sorted(os.listdir("/etc"))
    run = daemon.docker(
        "run", "--rm", "-v", f"{source}:/data", image, "sh", "-c",
        "busybox cat /etc/mine; busybox ls /etc/marker || echo hidden",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout == "bound\nhidden\n"  # on the container's /etc, as dockerd
    assert sorted(os.listdir("/etc")) == host_etc
    assert not Path("/etc/mine").exists()


def test_volumes_from_inherits_and_ro_restricts(berthd: Berthd, tmp_path: Path) -> None:
    host = tmp_path / "h"
    host.mkdir()
    made = berthd.docker(
        "create", "--name", "store", "-v", f"{host}:/h", "-v", "/anon", "busybox", "true"
    )
    assert made.returncode == 0, made.stderr
    rw = berthd.docker(
        "run",
        "--rm",
        "--volumes-from",
        "store",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /h/f; echo 2 > /anon/g",
    )
    assert rw.returncode == 0, rw.stderr
    assert (host / "f").read_text() == "1\n"
    ro = berthd.docker(
        "run",
        "--name",
        "reader",
        "--volumes-from",
        "store:ro",
        "busybox",
        "sh",
        "-c",
        "echo 3 > /h/f",
    )
    assert ro.returncode != 0
    assert [(m["Destination"], m["RW"]) for m in _mounts(berthd, "reader")] == [
        ("/anon", False),
        ("/h", False),
    ]
    missing = berthd.docker("create", "--volumes-from", "nobody", "busybox", "true")
    assert missing.returncode != 0
    assert "No such container: nobody" in missing.stderr


def test_anonymous_volumes_go_with_rm_v_and_run_rm_but_not_plain_rm(berthd: Berthd) -> None:
    volumes = berthd.root / "volumes"
    run = berthd.docker(
        "run", "--rm", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/f"
    )
    assert run.returncode == 0, run.stderr
    assert list(volumes.iterdir()) == []
    for name in ("kept", "removed"):
        made = berthd.docker(
            "run", "--name", name, "-v", "/anon", "-v", "named:/n", "busybox", "true"
        )
        assert made.returncode == 0, made.stderr
    assert len(list(volumes.iterdir())) == 3  # two anonymous, one named
    listed = berthd.docker("ps", "-a", "--filter", "volume=named", "--format", "{{.Names}}")
    assert sorted(listed.stdout.split()) == ["kept", "removed"]
    by_destination = berthd.docker("ps", "-a", "--filter", "volume=/anon", "--format", "{{.Names}}")
    assert by_destination.stdout.split() == []  # an anonymous volume has a name too
    (anonymous,) = [m for m in _mounts(berthd, "removed") if m["Destination"] == "/anon"]
    assert berthd.berth("rm", "-v", "removed").returncode == 0
    assert not (volumes / str(anonymous["Name"])).exists()
    assert berthd.docker("rm", "kept").returncode == 0
    assert len(list(volumes.iterdir())) == 2  # `rm` keeps them, as dockerd


def test_a_file_bind_and_one_over_the_network_files(berthd: Berthd, tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("setting=1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.9.8.7 mine\n")
    run = berthd.docker(
        "run", "--rm", "-v", f"{conf}:/etc/app/app.conf:ro", "-v", f"{hosts}:/etc/hosts",
        "--mount", "type=tmpfs,target=/dev/shm,tmpfs-size=65536", "busybox", "sh", "-c",
        "busybox cat /etc/app/app.conf /etc/hosts; busybox df -k /dev/shm | busybox tail -1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == ["setting=1", "10.9.8.7 mine"]
    assert lines[2].split()[1] == "64"  # the user's tmpfs replaced the default /dev/shm
