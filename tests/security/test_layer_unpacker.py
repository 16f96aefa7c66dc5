"""The layer unpacker on a real filesystem: compressions, the tree it leaves, corrupt
streams, budgets and bounded memory."""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pytest
import zstandard

from berth.adapters.snapshots.unpack import unpack_layer
from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import LayerLimits, LayerRejected

from .corpus_checks import populate_outside
from .corpus_tar import MTIME, c, d, f, h, s, tar
from .observe import sha256, tree_state


def normal_layer() -> bytes:
    return tar(
        d("etc", 0o755),
        f("etc/passwd", b"root:x:0:0\n"),
        f("bin/su", b"\x7fELF" * 300, mode=0o4755, uid=0, gid=0),
        f("usr/bin/newgrp", b"x", mode=0o2755, uid=1234, gid=5678),
        d("tmp", 0o1777),
        s("lib", "usr/lib"),
        s("abs", "/etc/passwd"),
        h("etc/passwd-link", "etc/passwd"),
        c("dev/null", 1, 3),
        f("long/" + "n" * 200, b"long name"),
        f("etc/.wh.shadow"),
        f("var/.wh..wh..opq"),
    )


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zstd_bytes(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def unpack_bytes(tmp_path: Path, blob: bytes, name: str = "layer", **kw: Any) -> Path:
    path = tmp_path / f"{name}.blob"
    path.write_bytes(blob)
    target = tmp_path / name
    unpack_layer(path, target, **kw)
    return target


@pytest.mark.parametrize("compress", [bytes, gzip_bytes, zstd_bytes], ids=["plain", "gzip", "zstd"])
def test_every_compression_gives_the_same_tree_and_diff_id(compress: Any, tmp_path: Path) -> None:
    layer = normal_layer()
    blob = tmp_path / "blob"
    blob.write_bytes(compress(layer))
    result = unpack_layer(blob, tmp_path / "layer")
    assert result.diff_id == sha256(layer)
    assert result.size == len(layer)
    assert result.entries == 12
    reference = tmp_path / "reference.tar"
    reference.write_bytes(layer)
    unpack_layer(reference, tmp_path / "reference")
    unpacked = tree_state(tmp_path / "layer", times=False)
    assert unpacked == tree_state(tmp_path / "reference", times=False)
    assert len(unpacked) == 18


def test_the_unpacked_tree_keeps_what_images_need(tmp_path: Path) -> None:
    root = unpack_bytes(tmp_path, gzip_bytes(normal_layer()))
    su = os.lstat(root / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_mtime_ns == MTIME * 10**9
    newgrp = os.lstat(root / "usr/bin/newgrp")
    assert (stat.S_IMODE(newgrp.st_mode), newgrp.st_uid, newgrp.st_gid) == (0o2755, 1234, 5678)
    assert stat.S_IMODE(os.lstat(root / "tmp").st_mode) == 0o1777
    null = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    passwd, link = os.lstat(root / "etc/passwd"), os.lstat(root / "etc/passwd-link")
    assert (passwd.st_ino, passwd.st_nlink) == (link.st_ino, 2)
    assert os.readlink(root / "abs") == "/etc/passwd"
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / ("long/" + "n" * 200)).read_bytes() == b"long name"
    assert stat.S_IMODE(os.lstat(root).st_mode) == 0o755


def test_whiteouts_and_opaque_directories_take_overlay_form(tmp_path: Path) -> None:
    root = unpack_bytes(tmp_path, normal_layer())
    shadow = os.lstat(root / "etc/shadow")
    assert stat.S_ISCHR(shadow.st_mode) and shadow.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "var", "trusted.overlay.opaque") == b"y"
    assert "trusted.overlay.opaque" not in os.listxattr(root / "etc")
    markers = [name for _, dirs, files in os.walk(root) for name in dirs + files]
    assert not [name for name in markers if name.startswith(".wh.")]


def test_an_absolute_symlink_is_not_followed_by_later_entries(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    populate_outside(outside)
    before = tree_state(outside)
    layer = tar(s("abs", str(outside)), f("abs", b"replaced"), s("hello", str(outside / "hello")))
    root = unpack_bytes(tmp_path, layer)
    assert (root / "abs").read_bytes() == b"replaced"
    assert os.readlink(root / "hello") == str(outside / "hello")
    assert tree_state(outside) == before


def test_fifo_xattrs_and_directory_times(tmp_path: Path) -> None:
    fifo = tarfile.TarInfo("run/pipe")
    fifo.type, fifo.mode = tarfile.FIFOTYPE, 0o620
    layer = tar(
        d("data", 0o555),  # read-only directory, filled afterwards
        f("data/file", b"x", pax_headers={"SCHILY.xattr.user.origin": "layer"}),
        fifo.tobuf(tarfile.PAX_FORMAT),
    )
    root = unpack_bytes(tmp_path, layer)
    data = os.lstat(root / "data")
    assert stat.S_IMODE(data.st_mode) == 0o555
    assert data.st_mtime_ns == MTIME * 10**9  # applied after the file was created in it
    assert os.getxattr(root / "data/file", "user.origin") == b"layer"
    pipe = os.lstat(root / "run/pipe")
    assert stat.S_ISFIFO(pipe.st_mode) and stat.S_IMODE(pipe.st_mode) == 0o620


def test_the_diff_id_covers_bytes_after_the_archive(tmp_path: Path) -> None:
    layer = tar(f("a", b"1")) + bytes(4096)
    path = tmp_path / "blob"
    path.write_bytes(zstd_bytes(layer[:3000]) + zstd_bytes(layer[3000:]))  # two frames
    result = unpack_layer(path, tmp_path / "layer")
    assert (result.diff_id, result.size) == (sha256(layer), len(layer))
    multi = tmp_path / "multi.gz"
    multi.write_bytes(gzip_bytes(layer[:1000]) + gzip_bytes(layer[1000:]))  # two members
    assert unpack_layer(multi, tmp_path / "multi").diff_id == sha256(layer)


def test_an_empty_layer_is_an_empty_directory(tmp_path: Path) -> None:
    result = unpack_bytes(tmp_path, gzip_bytes(tar()))
    assert os.listdir(result) == []


@pytest.mark.parametrize(
    ("layer", "limits", "why"),
    [
        (tar(f("a"), f("b"), f("c")), LayerLimits(max_entries=2), "more than 2 entries"),
        (tar(f("a/b/c")), LayerLimits(max_entries=2), "more than 2 entries"),
        (tar(f("a", bytes(3000))), LayerLimits(max_bytes=2048), "exceeds 2048 bytes"),
        (tar(f("a", b"1")), LayerLimits(max_bytes=4096), "exceeds 4096 bytes uncompressed"),
    ],
    ids=["entries", "implicit-dirs", "content-bytes", "stream-bytes"],
)
def test_budgets_reject_and_leave_nothing(
    layer: bytes, limits: LayerLimits, why: str, tmp_path: Path
) -> None:
    path = tmp_path / "blob"
    path.write_bytes(gzip_bytes(layer))
    with pytest.raises(LayerRejected, match=why):
        unpack_layer(path, tmp_path / "layer", limits)
    assert not os.path.lexists(tmp_path / "layer")


def truncated(layer: bytes, compress: Any) -> bytes:
    blob = compress(layer)
    return blob[: len(blob) // 2]


@pytest.mark.parametrize(
    "blob",
    [
        truncated(normal_layer(), gzip_bytes),
        truncated(normal_layer() + os.urandom(300_000), zstd_bytes),
        tar(f("a", b"x" * 5000))[:1024],  # plain, inside the data
        tar(f("a", b"x"), f("b"))[:1124],  # plain, inside a header block
        gzip_bytes(normal_layer())[:-4],  # gzip without its size trailer
        gzip_bytes(normal_layer()) + b"garbage!",
        zstd_bytes(normal_layer())[:-1],
    ],
    ids=["gzip", "zstd", "tar-data", "tar-header", "gzip-trailer", "gzip-garbage", "zstd-end"],
)
def test_corrupt_or_truncated_streams_are_refused_cleanly(blob: bytes, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(blob)
    with pytest.raises(InvalidParameter, match=r"^failed to unpack layer: ") as caught:
        unpack_layer(path, tmp_path / "layer")
    assert not isinstance(caught.value, LayerRejected)
    assert not os.path.lexists(tmp_path / "layer")


def test_a_bad_header_checksum_is_corrupt(tmp_path: Path) -> None:
    layer = bytearray(tar(f("a", b"1")))
    layer[0] ^= 1  # the name changes, the checksum does not
    path = tmp_path / "blob"
    path.write_bytes(bytes(layer))
    with pytest.raises(InvalidParameter, match="checksum"):
        unpack_layer(path, tmp_path / "layer")
    assert not os.path.lexists(tmp_path / "layer")


def gzip_of_zeros(total: int, prefix: bytes = b"") -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    out = [packer.compress(prefix)]
    for _ in range(total // len(chunk)):
        out.append(packer.compress(chunk))
    out.append(packer.flush())
    return b"".join(out)


def peak_memory(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_stops_at_the_byte_budget_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip_of_zeros(128 << 20))  # 128 MiB of zeros in ~130 KB
    assert bomb.stat().st_size < 1 << 20
    limits = LayerLimits(max_bytes=8 << 20)

    def unpack() -> None:
        with pytest.raises(LayerRejected, match="exceeds 8388608 bytes uncompressed"):
            unpack_layer(bomb, tmp_path / "layer", limits)

    assert peak_memory(unpack) < 16 << 20
    assert not os.path.lexists(tmp_path / "layer")


def test_a_large_file_streams_through_bounded_memory(tmp_path: Path) -> None:
    header = tarfile.TarInfo("big")
    header.size = 96 << 20
    body = header.tobuf(tarfile.PAX_FORMAT)
    blob = tmp_path / "big.gz"
    blob.write_bytes(gzip_of_zeros(97 << 20, prefix=body))  # data, then the end marker
    peak = peak_memory(lambda: unpack_layer(blob, tmp_path / "layer"))
    assert os.lstat(tmp_path / "layer/big").st_size == 96 << 20
    assert peak < 16 << 20


def test_a_declared_size_over_budget_is_refused_before_reading(tmp_path: Path) -> None:
    header = tarfile.TarInfo("huge")
    header.size = 1 << 40  # one TiB declared, nothing behind it
    path = tmp_path / "blob"
    path.write_bytes(header.tobuf(tarfile.PAX_FORMAT))
    with pytest.raises(LayerRejected, match="content exceeds"):
        unpack_layer(path, tmp_path / "layer")
