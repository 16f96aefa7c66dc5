"""`docker export`, `docker diff` and `docker commit` with the real docker CLI and
docker-py against berthd."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from typing import Any

import docker
import pytest

from ..fixtures.berthd import DOCKER
from .conftest import Berthd


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def events(berthd: Berthd, since: int, *args: str) -> list[str]:
    until = str(int(time.time()) + 1)
    listed = berthd.docker("events", "--since", str(since), "--until", until, *args)
    return ok(listed).splitlines()


def test_export_streams_the_whole_root_filesystem(berthd: Berthd) -> None:
    ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c", "echo mine > /made"))
    exported = subprocess.run(
        [DOCKER, "-H", f"unix://{berthd.socket}", "export", "box"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    listed = subprocess.run(
        ["tar", "t"], input=exported.stdout, capture_output=True, check=True
    ).stdout.decode()
    names = set(listed.split())
    assert {"bin/", "bin/busybox", "etc/", "etc/passwd", "made"} <= names
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        made = tar.extractfile("made")
        assert made is not None and made.read() == b"mine\n"
    missing = berthd.docker("export", "nosuchbox")
    assert missing.returncode != 0 and "No such container: nosuchbox" in missing.stderr


def test_diff_shows_added_deleted_and_changed_parents(berthd: Berthd) -> None:
    ok(berthd.docker("create", "--name", "fresh", "busybox", "true"))
    assert ok(berthd.docker("diff", "fresh")) == ""
    with docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41") as client:
        assert client.diff("fresh") is None  # dockerd's null, not []
        script = "touch /x; mkdir -p /a/b; touch /a/b/c; rm /bin/ls; echo >> /etc/passwd"
        ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c", script))
        changes = client.diff("box")
    assert changes == [
        {"Path": "/a", "Kind": 1},
        {"Path": "/a/b", "Kind": 1},
        {"Path": "/a/b/c", "Kind": 1},
        {"Path": "/bin", "Kind": 0},
        {"Path": "/bin/ls", "Kind": 2},
        {"Path": "/etc", "Kind": 0},
        {"Path": "/etc/passwd", "Kind": 0},
        {"Path": "/x", "Kind": 1},
    ]
    assert ok(berthd.docker("diff", "box")).splitlines() == [
        "A /a", "A /a/b", "A /a/b/c", "C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "A /x",
    ]  # fmt: skip


def test_commit_then_run_the_committed_image(berthd: Berthd) -> None:
    since = int(time.time()) - 1
    ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c",
                     "echo kept > /kept; rm /bin/ls"))  # fmt: skip
    image_id = ok(berthd.docker("commit", "-a", "me", "-m", "a message", "box", "mine:v1"))
    assert image_id.strip().startswith("sha256:")
    ran = ok(
        berthd.docker("run", "--rm", "mine:v1", "sh", "-c", "cat /kept; ls /bin/ls || echo gone")
    )
    assert ran.splitlines()[0] == "kept" and ran.splitlines()[-1] == "gone"
    (doc,) = json.loads(ok(berthd.docker("image", "inspect", "mine:v1")))
    assert (doc["Author"], doc["Comment"]) == ("me", "a message")
    assert doc["Config"]["Cmd"] == ["sh", "-c", "echo kept > /kept; rm /bin/ls"]
    assert len(doc["RootFS"]["Layers"]) == 2
    shown = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.imageRef}}"
    committed = events(berthd, since, "--filter", "event=commit", "--format", shown)
    assert committed == ["container commit box docker.io/library/mine:v1"]


def test_commit_with_changes_runs_the_new_command(berthd: Berthd) -> None:
    ok(berthd.docker("run", "--name", "box", "busybox", "true"))
    changes = ['CMD ["echo","hi"]', "ENV A=1 B=two", "WORKDIR /etc", "EXPOSE 8080"]
    flags = [arg for change in changes for arg in ("--change", change)]
    ok(berthd.docker("commit", *flags, "box", "changed"))
    assert ok(berthd.docker("run", "--rm", "changed")) == "hi\n"
    assert (
        ok(berthd.docker("run", "--rm", "changed", "sh", "-c", "echo $A $B; pwd"))
        == "1 two\n/etc\n"
    )
    (doc,) = json.loads(ok(berthd.docker("image", "inspect", "changed")))
    assert doc["Config"]["ExposedPorts"] == {"8080/tcp": {}}


def test_a_bad_change_is_a_400_and_records_nothing(berthd: Berthd) -> None:
    since = int(time.time()) - 1
    ok(berthd.docker("run", "--name", "box", "busybox", "true"))
    before = ok(berthd.docker("images", "-q"))
    bad = berthd.docker("commit", "--change", "RUN echo no", "box", "nope")
    assert bad.returncode != 0
    assert "run is not a valid change command" in bad.stderr
    with docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41") as client:
        answer = client.post(
            client._url("/commit"), params={"container": "box", "changes": "FROM x"}
        )
        assert answer.status_code == 400
        assert answer.json() == {"message": "from is not a valid change command"}
    assert ok(berthd.docker("images", "-q")) == before
    assert events(berthd, since, "--filter", "type=image") == []
    assert events(berthd, since, "--filter", "event=commit") == []


def test_commit_of_a_running_container_pauses_it_meanwhile(berthd: Berthd) -> None:
    since = int(time.time()) - 1
    ok(
        berthd.docker(
            "run", "-d", "--name", "box", "busybox", "sh", "-c", "echo up > /up; sleep 300"
        )
    )
    ok(berthd.docker("commit", "box", "live"))
    assert ok(berthd.docker("inspect", "-f", "{{.State.Status}}", "box")) == "running\n"
    actions = events(berthd, since, "--filter", "container=box", "--format", "{{.Action}}")
    assert actions[-3:] == ["pause", "unpause", "commit"]
    assert ok(berthd.docker("run", "--rm", "live", "cat", "/up")) == "up\n"


def test_docker_py_commit_with_a_config_and_changes_and_export(berthd: Berthd) -> None:
    with docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41") as client:
        created = client.create_container("busybox", ["sh", "-c", "echo made > /made"])
        client.start(created)
        assert client.wait(created)["StatusCode"] == 0
        answer = client.commit(
            created["Id"], repository="pyimage", tag="t1", message="from docker-py",
            author="py", changes=["ENV FROM_CHANGE=1", "LABEL a=b"],
            conf={"Env": ["FROM_CONF=1"], "Cmd": ["cat", "/made"]},
        )  # fmt: skip
        image = client.inspect_image("pyimage:t1")
        assert image["Id"] == answer["Id"]
        assert image["Config"]["Cmd"] == ["cat", "/made"]
        assert {"FROM_CONF=1", "FROM_CHANGE=1"} <= set(image["Config"]["Env"])
        assert image["Config"]["Labels"] == {"a": "b"}
        assert (image["Comment"], image["Author"], image["Container"]) == (
            "from docker-py", "py", created["Id"])  # fmt: skip
        run = client.create_container("pyimage:t1")
        client.start(run)
        assert client.wait(run)["StatusCode"] == 0
        assert client.logs(run) == b"made\n"
        exported = b"".join(client.export(created))
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            assert "made" in tar.getnames()
        with pytest.raises(docker.errors.APIError) as bad:
            client.commit(created["Id"], repository="Upper")
        assert bad.value.status_code == 400
        assert "repository name must be lowercase" in str(bad.value)


def test_a_client_leaving_an_export_midway_leaves_nothing_held(berthd: Berthd) -> None:
    script = "dd if=/dev/zero of=/big bs=1M count=64 2>/dev/null"
    ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c", script))
    with berthd.connect() as sock:
        sock.sendall(b"GET /v1.41/containers/box/export HTTP/1.1\r\nHost: berth\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    # The tar writer ended and let go of the container: it can be removed at once.
    ok(berthd.docker("rm", "box"))
    assert ok(berthd.docker("ps", "-aq")) == ""
