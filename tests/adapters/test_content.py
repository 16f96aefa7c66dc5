"""The content store: verified, atomic, and never left with a partial blob."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
import trio

from berth.adapters.content import ContentStore, DigestMismatch
from berth.domain.errors import InvalidParameter, NotFound


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def chunked(data: bytes, size: int = 65536, pause: bool = False) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        if pause:
            await trio.sleep(0)
        yield data[start : start + size]


async def from_list(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


def leftovers(store: ContentStore) -> list[str]:
    return os.listdir(store.root / "ingest")


def test_write_read_delete_round_trip(store: ContentStore) -> None:
    data = b"hello blob"
    digest = digest_of(data)
    assert not store.has(digest)
    path = store.write_bytes(digest, data)
    assert path == store.root / "blobs" / "sha256" / digest.removeprefix("sha256:")
    assert store.has(digest)
    assert store.read_bytes(digest, 100) == data
    assert store.size(digest) == len(data)
    assert store.digests() == [digest]
    store.delete(digest)
    store.delete(digest)  # idempotent
    assert not store.has(digest)
    assert store.digests() == []


def test_write_bytes_verifies(store: ContentStore) -> None:
    wrong = digest_of(b"other")
    with pytest.raises(DigestMismatch, match="failed to verify digest: expected sha256:"):
        store.write_bytes(wrong, b"data")
    assert store.digests() == []
    assert leftovers(store) == []


def test_read_bytes_limit_and_missing(store: ContentStore) -> None:
    data = b"x" * 100
    digest = digest_of(data)
    store.write_bytes(digest, data)
    with pytest.raises(InvalidParameter, match="larger than the limit of 99 bytes"):
        store.read_bytes(digest, 99)
    assert store.read_bytes(digest, 100) == data
    with pytest.raises(NotFound):
        store.read_bytes(digest_of(b"absent"), 10)
    with pytest.raises(NotFound):
        store.size(digest_of(b"absent"))


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:../../../../etc/passwd",
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha512:" + "a" * 128,
        "a" * 64,
        "sha256:" + "a" * 64 + "/x",
        "",
    ],
)
def test_digests_are_validated_before_use_as_paths(store: ContentStore, bad: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid digest"):
        store.path(bad)
    with pytest.raises(InvalidParameter):
        store.write_bytes(bad, b"")


async def test_ingest_streams_and_verifies(store: ContentStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = digest_of(data)
    path = await store.ingest(digest, len(data), chunked(data))
    assert path.read_bytes() == data
    assert store.digests() == [digest]
    assert leftovers(store) == []


async def test_ingest_without_size(store: ContentStore) -> None:
    data = b"abc" * 1000
    path = await store.ingest(digest_of(data), None, chunked(data, 7))
    assert path.read_bytes() == data


async def test_ingest_wrong_digest_leaves_nothing(store: ContentStore) -> None:
    data = b"the real bytes"
    claimed = digest_of(b"what was promised")
    with pytest.raises(DigestMismatch) as caught:
        await store.ingest(claimed, len(data), chunked(data))
    assert str(caught.value) == (
        f"failed to verify digest: expected {claimed}, got {digest_of(data)}"
    )
    assert not store.has(claimed)
    assert leftovers(store) == []


async def test_ingest_short_stream(store: ContentStore) -> None:
    data = b"0123456789"
    with pytest.raises(DigestMismatch, match=r"^unexpected size: expected 20, got 10$"):
        await store.ingest(digest_of(data), 20, chunked(data))
    assert store.digests() == [] and leftovers(store) == []


async def test_ingest_long_stream_is_cut_off(store: ContentStore) -> None:
    reads = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal reads
        while True:
            reads += 1
            yield b"z" * 1000

    with pytest.raises(DigestMismatch, match="unexpected size: expected 5000, got at least 6000"):
        await store.ingest(digest_of(b"z" * 5000), 5000, endless())
    assert reads == 6
    assert store.digests() == [] and leftovers(store) == []


async def test_ingest_error_in_source_removes_temp(store: ContentStore) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"a" * (2 * 1024 * 1024)
        raise ConnectionError("source broke")

    with pytest.raises(ConnectionError):
        await store.ingest(digest_of(b"whatever"), None, failing())
    assert store.digests() == [] and leftovers(store) == []


async def test_cancelled_ingest_removes_temp(store: ContentStore) -> None:
    started = trio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"a" * (2 * 1024 * 1024)
        started.set()
        await trio.sleep_forever()
        yield b""  # pragma: no cover

    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.ingest, digest_of(b"x"), None, stalls())
        await started.wait()
        assert len(leftovers(store)) == 1  # the temp file exists while streaming
        nursery.cancel_scope.cancel()
    assert store.digests() == [] and leftovers(store) == []


async def test_ingest_of_present_blob_reads_nothing(store: ContentStore) -> None:
    data = b"already here"
    digest = digest_of(data)
    store.write_bytes(digest, data)

    async def must_not_be_read() -> AsyncIterator[bytes]:
        raise AssertionError("read")
        yield b""  # pragma: no cover

    assert await store.ingest(digest, len(data), must_not_be_read()) == store.path(digest)


async def test_concurrent_ingests_of_one_digest(store: ContentStore) -> None:
    data = os.urandom(4 * 1024 * 1024)
    digest = digest_of(data)
    results: list[Path] = []

    async def one() -> None:
        results.append(await store.ingest(digest, len(data), chunked(data, 8192, pause=True)))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(one)
    assert len(results) == 4 and len(set(results)) == 1
    assert results[0].read_bytes() == data
    assert store.digests() == [digest]
    assert leftovers(store) == []


async def test_corrupt_and_good_ingest_race(store: ContentStore) -> None:
    data = os.urandom(2 * 1024 * 1024)
    bad = bytearray(data)
    bad[12345] ^= 0xFF
    digest = digest_of(data)
    outcome: dict[str, object] = {}

    async def good() -> None:
        outcome["good"] = await store.ingest(digest, len(data), chunked(data, 4096, True))

    async def corrupt() -> None:
        try:
            await store.ingest(digest, len(data), chunked(bytes(bad), 4096, True))
        except DigestMismatch as exc:
            outcome["bad"] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(corrupt)
        nursery.start_soon(good)
    assert isinstance(outcome["bad"], DigestMismatch)
    assert store.path(digest).read_bytes() == data
    assert leftovers(store) == []


async def test_large_ingest_keeps_the_loop_responsive(store: ContentStore) -> None:
    data = os.urandom(64 * 1024 * 1024)
    digest = digest_of(data)
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.monotonic()
        while not done:
            await trio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        begin = time.monotonic()
        await store.ingest(digest, len(data), chunked(data, 65536))
        elapsed = time.monotonic() - begin
        done = True
    assert store.size(digest) == len(data)
    assert elapsed < 10
    assert max(gaps) < 0.25, max(gaps)
