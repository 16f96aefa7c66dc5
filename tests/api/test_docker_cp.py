"""`docker cp` with the real docker CLI and docker-py against berthd: trees and single
files both ways, on created and running containers, the path-stat header, and the
policy of an archive copied in."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import docker
import pytest

from ..fixtures.berthd import DOCKER
from .conftest import Berthd


def make_tree(top: Path) -> None:
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "plain.txt").write_text("plain\n")
    (top / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (top / "script.sh").chmod(0o755)
    (top / "secret").write_text("s3cret\n")
    (top / "secret").chmod(0o600)
    os.chown(top / "secret", 1234, 5678)
    (top / "sub" / "deeper" / "leaf").write_bytes(os.urandom(70_000))
    (top / "sub").chmod(0o750)
    os.chown(top / "sub", 42, 43)
    os.symlink("plain.txt", top / "link")
    os.link(top / "plain.txt", top / "hard")


def tree_facts(top: Path) -> dict[str, tuple[Any, ...]]:
    """Kind, mode, owner, content (or link text) and hardlink count of every node."""
    facts: dict[str, tuple[Any, ...]] = {}
    for path in sorted(top.rglob("*")):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            content: bytes | str = path.read_bytes()
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        else:
            content = ""
        facts[str(path.relative_to(top))] = (
            stat.S_IFMT(st.st_mode),
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            content,
            st.st_nlink if stat.S_ISREG(st.st_mode) else 0,
            int(st.st_mtime) if not stat.S_ISLNK(st.st_mode) else 0,
        )
    return facts


def without_owners(facts: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    return {name: (kind, mode, *rest) for name, (kind, mode, _u, _g, *rest) in facts.items()}


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


@pytest.mark.parametrize("running", [False, True], ids=["created", "running"])
def test_cp_a_tree_in_and_out_keeps_modes_owners_links(
    berthd: Berthd, tmp_path: Path, running: bool
) -> None:
    source = tmp_path / "tree"
    source.mkdir()
    make_tree(source)
    if running:
        ok(berthd.docker("run", "-d", "--name", "box", "busybox", "sleep", "300"))
    else:
        ok(berthd.docker("create", "--name", "box", "busybox", "true"))
    ok(berthd.docker("cp", "-a", str(source), "box:/data"))
    back = tmp_path / "back"
    back.mkdir()
    ok(berthd.docker("cp", "-a", "box:/data", str(back)))
    # The CLI extracts on the host without chown (Go's archive.CopyTo): owners are
    # compared in the tar berthd sends instead.
    assert without_owners(tree_facts(back / "data")) == without_owners(tree_facts(source))
    streamed = subprocess.run(
        [DOCKER, "-H", f"unix://{berthd.socket}", "cp", "box:/data", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
        owners = {m.name: (m.uid, m.gid) for m in tar.getmembers()}
        links = {m.name: m.linkname for m in tar.getmembers() if m.islnk()}
    assert owners["data/secret"] == (1234, 5678)
    assert owners["data/sub"] == (42, 43)
    assert owners["data/plain.txt"] == (0, 0)
    assert links == {"data/plain.txt": "data/hard"}  # the second name of one file
    # `dir/.` copies the contents, not the directory
    contents = tmp_path / "contents"
    contents.mkdir()
    ok(berthd.docker("cp", "box:/data/.", str(contents)))
    assert sorted(p.name for p in contents.iterdir()) == sorted(p.name for p in source.iterdir())


def test_cp_a_single_file_both_ways(berthd: Berthd, tmp_path: Path) -> None:
    ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c", "echo inside > /made"))
    ok(berthd.docker("cp", "box:/made", str(tmp_path / "got")))
    assert (tmp_path / "got").read_text() == "inside\n"
    (tmp_path / "sent").write_text("from the host\n")
    ok(berthd.docker("cp", str(tmp_path / "sent"), "box:/etc/sent"))
    ok(berthd.docker("start", "-a", "box"))  # the container runs again with it
    ok(berthd.docker("cp", "box:/etc/sent", str(tmp_path / "again")))
    assert (tmp_path / "again").read_text() == "from the host\n"
    missing = berthd.docker("cp", "box:/no/such/file", str(tmp_path / "x"))
    assert missing.returncode != 0
    assert "Could not find the file /no/such/file in container box" in missing.stderr


def _client(daemon: Berthd) -> docker.APIClient:
    return docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)


def _stat_of(client: docker.APIClient, container: str, path: str) -> tuple[int, dict[str, Any]]:
    url = client._url("/containers/{0}/archive", container)
    answer = client.head(url, params={"path": path})
    header = answer.headers.get("X-Docker-Container-Path-Stat")
    return answer.status_code, json.loads(base64.b64decode(header)) if header else {}


def test_head_archive_answers_dockerd_path_stat(berthd: Berthd) -> None:
    script = "mkdir /d; chmod 1777 /d; echo 12345 > /f; chmod 4755 /f; ln -s /f /l"
    ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c", script))
    with _client(berthd) as client:
        status, found = _stat_of(client, "box", "/f")
        assert status == 200
        assert (found["name"], found["size"], found["mode"]) == ("f", 6, (1 << 23) | 0o755)
        assert found["linkTarget"] == ""
        assert found["mtime"].endswith("Z") and found["mtime"][:2] == "20"
        assert _stat_of(client, "box", "/d")[1]["mode"] == (1 << 31) | (1 << 20) | 0o777
        link = _stat_of(client, "box", "/l")[1]
        assert (link["mode"] & (1 << 27), link["linkTarget"]) == (1 << 27, "/f")
        assert _stat_of(client, "box", "/nothing")[0] == 404
        assert _stat_of(client, "box", "")[0] == 400
        assert _stat_of(client, "box", "/f\0x")[0] == 400
        stream, stat_doc = client.get_archive("box", "/f")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            (member,) = tar.getmembers()
            assert (member.name, member.mode, tar.extractfile(member).read()) == (  # type: ignore[union-attr]
                "f", 0o4755, b"12345\n")  # fmt: skip
        assert stat_doc["name"] == "f"


def test_cp_follow_link_copies_what_the_link_names(berthd: Berthd, tmp_path: Path) -> None:
    script = "echo target > /f; ln -s /f /l; ln -s ../../../../etc/passwd /up"
    ok(berthd.docker("run", "--name", "box", "busybox", "sh", "-c", script))
    ok(berthd.docker("cp", "-L", "box:/l", str(tmp_path / "followed")))
    assert (tmp_path / "followed").read_text() == "target\n"
    ok(berthd.docker("cp", "box:/l", str(tmp_path / "link")))
    assert os.readlink(tmp_path / "link") == "/f"
    # A link climbing out of the root is the container's /etc/passwd, not the host's.
    ok(berthd.docker("cp", "-L", "box:/up", str(tmp_path / "passwd")))
    assert (tmp_path / "passwd").read_bytes() != Path("/etc/passwd").read_bytes()
    assert (tmp_path / "passwd").read_text().startswith("root:")


def test_put_archive_needs_an_existing_directory(berthd: Berthd) -> None:
    ok(berthd.docker("create", "--name", "box", "busybox", "true"))
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("x")
        tar.addfile(info, io.BytesIO(b""))
    with _client(berthd) as client:
        with pytest.raises(docker.errors.NotFound) as missing:
            client.put_archive("box", "/no/such/dir", data.getvalue())
        assert "Could not find the file /no/such/dir in container box" in str(missing.value)
        with pytest.raises(docker.errors.APIError) as not_dir:
            client.put_archive("box", "/bin/busybox", data.getvalue())
        assert not_dir.value.status_code == 400
        assert "extraction point is not a directory" in str(not_dir.value)
        assert client.put_archive("box", "/etc", data.getvalue()) is True


def test_copy_uid_gid_gives_files_to_the_container_user(berthd: Berthd, tmp_path: Path) -> None:
    ok(berthd.docker("create", "--name", "box", "--user", "1234:99", "busybox", "true"))
    (tmp_path / "owned").write_text("x")
    os.chown(tmp_path / "owned", 4321, 4321)
    ok(berthd.docker("cp", "-a", str(tmp_path / "owned"), "box:/etc/"))
    with _client(berthd) as client:
        stream, _ = client.get_archive("box", "/etc/owned")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.getmember("owned")
    assert (member.uid, member.gid) == (1234, 99)


def test_cp_into_and_out_of_binds_and_volumes_goes_to_their_sources(
    berthd: Berthd, tmp_path: Path
) -> None:
    host_dir = tmp_path / "bound"
    host_dir.mkdir()
    (tmp_path / "ro").mkdir()
    (tmp_path / "in.txt").write_text("into the bind\n")
    ok(berthd.docker("create", "--name", "box", "-v", f"{host_dir}:/data",
                     "-v", f"{tmp_path / 'ro'}:/locked:ro", "-v", "named:/vol",
                     "busybox", "true"))  # fmt: skip
    ok(berthd.docker("cp", str(tmp_path / "in.txt"), "box:/data/"))
    assert (host_dir / "in.txt").read_text() == "into the bind\n"
    (host_dir / "from-host").write_text("seen\n")
    ok(berthd.docker("cp", "box:/data/from-host", str(tmp_path / "out.txt")))
    assert (tmp_path / "out.txt").read_text() == "seen\n"
    ok(berthd.docker("cp", str(tmp_path / "in.txt"), "box:/vol/kept.txt"))
    refused = berthd.docker("cp", str(tmp_path / "in.txt"), "box:/locked/")
    assert refused.returncode != 0 and "mounted volume is marked read-only" in refused.stderr
    assert list((tmp_path / "ro").iterdir()) == []
    ran = berthd.docker("run", "--rm", "-v", "named:/vol", "busybox", "cat", "/vol/kept.txt")
    assert ok(ran) == "into the bind\n"
    with _client(berthd) as client:
        status, found = _stat_of(client, "box", "/data")
        assert (status, found["name"], found["mode"] & (1 << 31)) == (200, "data", 1 << 31)
        # A directory holding mount points is copied as the container sees it (their
        # directories are made at the first start).
        ok(berthd.docker("start", "-a", "box"))
        stream, _ = client.get_archive("box", "/")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            names = set(tar.getnames())
        assert {"data/in.txt", "data/from-host", "vol/kept.txt", "bin/busybox"} <= names
        exported = b"".join(client.export("box"))  # export is the root filesystem only
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            assert "data/in.txt" not in tar.getnames()
    ok(berthd.docker("rm", "-v", "box"))
