"""A plain archive in a regular file (a spooled `docker cp` upload) is read in place:
file data skipped by seeking and copied by the kernel, with the same result as the
stream path, and a truncated archive is corrupt, not half a file."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.adapters.snapshots import plain_archive
from berth.adapters.snapshots.extract import extract_archive
from berth.adapters.snapshots.plain_archive import FileRegion, is_plain_file
from berth.domain.errors import InvalidParameter


def archive_of(files: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o640
            tar.addfile(info, io.BytesIO(content))
    return data.getvalue()


def extracted(archive: io.BufferedIOBase | io.BytesIO, into: Path) -> dict[str, bytes]:
    into.mkdir()
    fd = os.open(into, os.O_RDONLY | os.O_DIRECTORY)
    try:
        extract_archive(archive, fd)  # type: ignore[arg-type]
    finally:
        os.close(fd)
    return {
        str(p.relative_to(into)): p.read_bytes() for p in sorted(into.rglob("*")) if p.is_file()
    }


names = st.text("abcdef", min_size=1, max_size=8)


@settings(max_examples=25, deadline=None)
@given(files=st.dictionaries(names, st.binary(max_size=3000), min_size=1, max_size=6))
def test_a_spooled_archive_extracts_as_the_same_bytes_in_memory_do(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    work = tmp_path_factory.mktemp("plain")
    spool = work / "spool.tar"
    spool.write_bytes(archive_of(files))
    with open(spool, "rb") as raw:
        assert is_plain_file(raw)
        in_place = extracted(raw, work / "in-place")
    assert in_place == files
    assert extracted(io.BytesIO(spool.read_bytes()), work / "streamed") == files


def test_a_compressed_spool_or_a_pipe_is_not_read_in_place(tmp_path: Path) -> None:
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(b"\x1f\x8b" + bytes(100))
    with open(gz, "rb") as raw:
        assert not is_plain_file(raw)
    read_end, write_end = os.pipe()
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert not is_plain_file(pipe)
    assert not is_plain_file(io.BytesIO(b"x"))  # type: ignore[arg-type]


def test_a_truncated_spool_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    spool = tmp_path / "cut.tar"
    spool.write_bytes(archive_of({"big": os.urandom(50_000)})[:20_000])
    with open(spool, "rb") as raw, pytest.raises(InvalidParameter, match="unexpected end"):
        extracted(raw, tmp_path / "target")
    assert list((tmp_path / "target").iterdir()) == []


def test_the_kernel_copy_falls_back_to_sendfile_across_filesystems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> int:
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(plain_archive, "_copy_range", refuse)
    source = tmp_path / "source"
    source.write_bytes(b"head" + b"payload" * 1000)
    with open(source, "rb") as raw, open(tmp_path / "target", "wb") as target:
        FileRegion(raw.fileno(), 4, 7000).copy_into(target.fileno())
    assert (tmp_path / "target").read_bytes() == b"payload" * 1000
