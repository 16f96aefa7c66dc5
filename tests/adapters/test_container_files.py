"""The file adapters of docker cp, export, diff and commit on a real filesystem (as root):
paths resolved inside the root, tars made through descriptors, extraction into a
directory that already holds things, and overlay changes."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from berth.adapters.snapshots.changes import ADDED, DELETED, MODIFIED, Change, layer_changes
from berth.adapters.snapshots.container_files import (
    GO_DIR,
    GO_SYMLINK,
    archive_path,
    extract_to,
    go_file_mode,
    go_time,
    link_target,
    stat_path,
)
from berth.adapters.snapshots.tree_tar import OPAQUE_XATTR, TreeTar, write_tree
from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import LayerRejected


def tar_of(*members: tuple[str, bytes | None]) -> io.BytesIO:
    """A tar of files (bytes) and directories (None)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    data.seek(0)
    return data


def names_in(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    os.symlink("/etc", root / "etc-link")
    os.symlink("../../../../../etc", root / "climb")
    return root


def test_go_file_mode_and_time() -> None:
    assert go_file_mode(stat.S_IFDIR | 0o1777) == GO_DIR | (1 << 20) | 0o777
    assert go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert go_file_mode(stat.S_IFCHR | 0o600) == (1 << 26) | (1 << 21) | 0o600
    assert go_time(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_links_resolve_inside_the_root(rootfs: Path, tmp_path: Path) -> None:
    assert stat_path(rootfs, "/etc-link/passwd").name == "passwd"
    found = stat_path(rootfs, "/climb")
    assert found.mode & GO_SYMLINK and found.link_target == "/etc"
    assert link_target(rootfs, "/etc-link") == "/etc"
    # `/climb/passwd` is the container's /etc/passwd, never the host's
    data = io.BytesIO()
    archive_path(rootfs, "/climb/passwd", data)
    with tarfile.open(fileobj=io.BytesIO(data.getvalue())) as tar:
        member = tar.extractfile("passwd")
        assert member is not None and member.read() == b"root:x:0:0::/root:/bin/sh\n"
    with pytest.raises(FileNotFoundError):
        stat_path(rootfs, "/no/such")


def test_extraction_merges_replaces_and_keeps_the_target(rootfs: Path) -> None:
    (rootfs / "tmp" / "old").write_text("old")
    extract_to(rootfs, "/tmp", tar_of(("./", None), ("old", b"new"), ("d/", None), ("d/f", b"f")))
    assert (rootfs / "tmp" / "old").read_text() == "new"
    assert (rootfs / "tmp" / "d" / "f").read_text() == "f"
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777  # the target is kept
    extract_to(rootfs, "/tmp", tar_of(("implied/deep/file", b"x")))
    assert stat.S_IMODE((rootfs / "tmp" / "implied").stat().st_mode) == 0o755
    with pytest.raises(InvalidParameter, match="cannot overwrite directory"):
        extract_to(rootfs, "/tmp", tar_of(("d", b"a file over a dir")), None, True)
    with pytest.raises(InvalidParameter, match="extraction point is not a directory"):
        extract_to(rootfs, "/etc/passwd", tar_of(("x", b"")))


def test_extraction_follows_the_target_link_inside_the_root(rootfs: Path) -> None:
    extract_to(rootfs, "/climb", tar_of(("dropped", b"in the container's /etc")))
    assert (rootfs / "etc" / "dropped").read_text() == "in the container's /etc"


def test_extraction_never_follows_a_link_the_container_put_in_the_target(
    rootfs: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, rootfs / "tmp" / "escape")
    with pytest.raises(InvalidParameter, match="symbolic link"):
        extract_to(rootfs, "/tmp", tar_of(("escape/owned", b"x")))
    assert list(outside.iterdir()) == []


def test_a_refused_archive_writes_nothing(rootfs: Path) -> None:
    before = sorted(p.name for p in (rootfs / "tmp").iterdir())
    archive = tar_of(("first", b"would be written first"), ("../../escape", b"x"))
    with pytest.raises(LayerRejected):
        extract_to(rootfs, "/tmp", archive)
    assert sorted(p.name for p in (rootfs / "tmp").iterdir()) == before
    with pytest.raises(LayerRejected, match="whiteouts are not allowed"):
        extract_to(rootfs, "/tmp", tar_of((".wh.passwd", b"")))


def test_a_tree_tar_is_read_through_descriptors(rootfs: Path) -> None:
    os.mkfifo(rootfs / "tmp" / "fifo")  # never opened: its open would block
    os.link(rootfs / "etc" / "passwd", rootfs / "etc" / "again")
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY)
    try:
        data = io.BytesIO()
        write_tree(data, fd)
    finally:
        os.close(fd)
    with tarfile.open(fileobj=io.BytesIO(data.getvalue())) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["tmp/fifo"].isfifo()
    assert members["etc/passwd"].islnk() and members["etc/passwd"].linkname == "etc/again"
    assert members["climb"].issym() and members["climb"].linkname == "../../../../../etc"
    assert members["tmp"].mode == 0o1777


def test_a_tree_tar_onto_a_descriptor_is_the_one_onto_a_buffer(tmp_path: Path) -> None:
    """File data goes by sendfile onto a descriptor, by reads into a buffer object."""
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    contents = {"d/small": b"abc", "d/big": os.urandom(3 * 1024 * 1024 + 17), "empty": b""}
    for name, content in contents.items():
        (tree / name).write_bytes(content)
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buffered = io.BytesIO()
        write_tree(buffered, fd)
        with open(tmp_path / "out.tar", "wb") as out:
            write_tree(out, fd)
    finally:
        os.close(fd)
    assert (tmp_path / "out.tar").read_bytes() == buffered.getvalue()
    assert len(buffered.getvalue()) % tarfile.RECORDSIZE == 0
    with tarfile.open(tmp_path / "out.tar") as tar:
        files = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
        assert {name: f.read() for name, f in files.items() if f} == contents


def test_an_upper_dir_becomes_a_layer_with_oci_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "opaque").mkdir()
    os.setxattr(upper / "opaque", OPAQUE_XATTR, b"y")
    (upper / "opaque" / "kept").write_text("k")
    (upper / "dev").mkdir()  # an engine mount point left empty: not the container's
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY)
    try:
        data = io.BytesIO()
        with TreeTar(data, overlay_whiteouts=True) as tree:
            tree.add_children(fd, "")
    finally:
        os.close(fd)
    assert names_in(data.getvalue()) == [
        "etc", "etc/.wh.gone", "opaque", "opaque/.wh..wh..opq", "opaque/kept",
    ]  # fmt: skip


def test_changes_of_an_upper_dir_as_dockerd_reports_them(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for top in (lower, upper):
        (top / "bin").mkdir(parents=True)
        (top / "same").mkdir()
    (lower / "bin" / "ls").write_text("ls")
    (lower / "etc").mkdir()
    (lower / "etc" / "passwd").write_text("p")
    os.mknod(upper / "bin" / "ls", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "etc").mkdir()
    (upper / "etc" / "passwd").write_text("changed")
    (upper / "etc" / "hosts").write_text("")  # the engine's empty mount point
    (upper / "new").mkdir()
    (upper / "new" / "file").write_text("n")
    for top in (lower, upper):
        os.utime(top / "same", ns=(10**18, 10**18))
    assert layer_changes(upper, [lower]) == [
        Change("/bin", MODIFIED),
        Change("/bin/ls", DELETED),
        Change("/etc", MODIFIED),
        Change("/etc/passwd", MODIFIED),
        Change("/new", ADDED),
        Change("/new/file", ADDED),
    ]
    only_stub = tmp_path / "only-stub"
    (only_stub / "etc").mkdir(parents=True)
    (only_stub / "etc" / "hosts").write_text("")
    assert layer_changes(only_stub, [lower]) == []


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, lambda data: zstandard.compress(data)],
    ids=["gzip", "bzip2", "xz", "zstd"],
)
def test_an_archive_in_any_of_dockerds_compressions_is_extracted(
    rootfs: Path, compress: Callable[[bytes], bytes]
) -> None:
    plain = tar_of(("packed", b"compressed " * 1000)).getvalue()
    twice = compress(plain[:-1024]) + compress(plain[-1024:])  # concatenated streams
    extract_to(rootfs, "/tmp", io.BytesIO(twice))
    assert (rootfs / "tmp" / "packed").read_bytes() == b"compressed " * 1000
    with pytest.raises(InvalidParameter, match="failed to unpack layer"):
        whole = compress(plain)
        extract_to(rootfs, "/tmp", io.BytesIO(whole[: len(whole) // 2]))


def test_changes_see_what_lower_layers_hide(tmp_path: Path) -> None:
    """A file whited out (or under an opaque directory) in an upper image layer is not
    there: the container making it again adds it."""
    bottom, top, upper = tmp_path / "bottom", tmp_path / "top", tmp_path / "upper"
    for layer in (bottom, top, upper):
        (layer / "opq").mkdir(parents=True)
    (bottom / "gone").write_text("b")
    (bottom / "opq" / "old").write_text("b")
    os.mknod(top / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.setxattr(top / "opq", OPAQUE_XATTR, b"y")
    (upper / "gone").write_text("again")
    (upper / "opq" / "old").write_text("again")
    for layer in (top, upper):
        os.utime(layer / "opq", ns=(10**18, 10**18))
    assert layer_changes(upper, [top, bottom]) == [
        Change("/gone", ADDED),
        Change("/opq", MODIFIED),
        Change("/opq/old", ADDED),
    ]
