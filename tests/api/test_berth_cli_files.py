"""berth's own CLI against a berthd: cp both ways (trees, files, `-` tars), export, diff
and commit, with docker's output; and the host side of `cp` out of a hostile container."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

from ..fixtures.berthd import BIN
from .berth_cli import berth
from .conftest import Berthd


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cp_trees_and_files_both_ways(berthd: Berthd, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("deep\n")
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o751)
    ok(berth(berthd, "create", "--name", "box", "busybox", "true"))
    ok(berth(berthd, "cp", str(tree), "box:/data"))  # a new name: the tree becomes /data
    ok(berth(berthd, "cp", str(tree), "box:/etc"))  # an existing directory: /etc/tree
    out = tmp_path / "out"
    out.mkdir()
    ok(berth(berthd, "cp", "box:/data", str(out)))
    ok(berth(berthd, "cp", "box:/etc/tree/sub/f", str(tmp_path / "single")))
    ok(berth(berthd, "cp", "box:/data/.", str(tmp_path / "contents")))
    assert (out / "data" / "sub" / "f").read_text() == "deep\n"
    assert (out / "data" / "run.sh").stat().st_mode & 0o7777 == 0o751
    assert (tmp_path / "single").read_text() == "deep\n"
    assert sorted(p.name for p in (tmp_path / "contents").iterdir()) == ["run.sh", "sub"]
    missing = berth(berthd, "cp", "box:/nothing", str(out))
    assert missing.returncode != 0 and "Could not find the file /nothing in container box" in (
        missing.stderr
    )


def test_cp_tars_on_stdin_and_stdout(berthd: Berthd) -> None:
    ok(berth(berthd, "create", "--name", "box", "busybox", "true"))
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("piped.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"piped\n"))
    command = [str(BIN / "berth"), "-H", f"unix://{berthd.socket}", "cp"]
    sent = subprocess.run([*command, "-", "box:/etc"], input=data.getvalue(), capture_output=True)
    assert sent.returncode == 0, sent.stderr
    got = subprocess.run([*command, "box:/etc/piped.txt", "-"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        member = tar.extractfile("piped.txt")
        assert member is not None and member.read() == b"piped\n"


def test_cp_out_of_a_container_cannot_write_beside_the_destination(
    berthd: Berthd, tmp_path: Path
) -> None:
    # The container's own tree holds a link to the host's /etc and a file "through" it
    # would be the next entry of a naive extraction; the copy stays in the destination.
    script = "mkdir -p /trap; ln -s /etc /trap/link; echo x > /trap/plain"
    ok(berth(berthd, "run", "--name", "box", "busybox", "sh", "-c", script))
    out = tmp_path / "out"
    out.mkdir()
    ok(berth(berthd, "cp", "box:/trap", str(out)))
    assert os.readlink(out / "trap" / "link") == "/etc"
    assert (out / "trap" / "plain").read_text() == "x\n"


def test_export_diff_and_commit(berthd: Berthd, tmp_path: Path) -> None:
    ok(berth(berthd, "run", "--name", "box", "busybox", "sh", "-c", "touch /new; rm /bin/ls"))
    ok(berth(berthd, "export", "-o", str(tmp_path / "rootfs.tar"), "box"))
    with tarfile.open(tmp_path / "rootfs.tar") as tar:
        names = set(tar.getnames())
    assert {"new", "bin/busybox"} <= names and "bin/ls" not in names
    assert ok(berth(berthd, "diff", "box")).splitlines() == ["C /bin", "D /bin/ls", "A /new"]
    image_id = ok(
        berth(berthd, "commit", "-m", "by berth", "-c", "CMD ls /new", "box", "fromberth:one")
    ).strip()
    assert image_id.startswith("sha256:")
    assert ok(berth(berthd, "run", "--rm", "fromberth:one")) == "/new\n"
    bad = berth(berthd, "commit", "-c", "ADD . /", "box")
    assert bad.returncode == 1
    assert bad.stderr == "Error response from daemon: add is not a valid change command\n"
