"""Reading files of a container's root filesystem without following links out of it."""

from __future__ import annotations

import os
from pathlib import Path

from berth.adapters.snapshots.rootfs import read_in_root


def test_reads_a_file_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("app:x:1000:1000::/:/bin/sh\n")
    assert read_in_root(tmp_path, "etc/passwd") == "app:x:1000:1000::/:/bin/sh\n"
    assert read_in_root(tmp_path, "etc/group") is None


def test_never_follows_a_link_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:host secret\n")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(str(outside), root / "etc")  # a symlinked parent
    assert read_in_root(root, "etc/passwd") is None
    (root / "etc").unlink()
    (root / "etc").mkdir()
    os.symlink(str(outside / "passwd"), root / "etc" / "passwd")  # a symlinked file
    assert read_in_root(root, "etc/passwd") is None
