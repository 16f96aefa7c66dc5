"""The `Blobs` contract (adapters/content.py), for the fake and the real content store."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.adapters.content import Blobs, ContentStore, DigestMismatch
from berth.domain.errors import DiskFull, InvalidParameter, NotFound

from ..fakes.content import FakeContent
from ..fixtures.disk import fill, small_disk
from .conftest import IMPLEMENTATIONS, needs

DATA = b"the same bytes, whoever stores them\n" * 1000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
OTHER = "sha256:" + hashlib.sha256(b"other").hexdigest()


class Subject:
    """A store, and what the test needs to know that only its implementation can tell."""

    def __init__(self, store: Blobs, half_written: Callable[[], list[str]]) -> None:
        self.store = store
        self.half_written = half_written  # what a failed write left behind


def real_store(directory: Path) -> Subject:
    store = ContentStore(directory / "content")
    return Subject(store, lambda: os.listdir(store.root / "ingest"))


def fake_store(directory: Path) -> Subject:
    return Subject(FakeContent(), list)


@pytest.fixture(params=IMPLEMENTATIONS)
def make(request: pytest.FixtureRequest) -> Callable[[Path], Subject]:
    return fake_store if request.param == "fake" else real_store


@pytest.fixture
def subject(make: Callable[[Path], Subject], tmp_path: Path) -> Subject:
    return make(tmp_path)


async def chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await trio.lowlevel.checkpoint()
        yield data[start : start + size]


async def test_a_written_blob_reads_back_whole(subject: Subject) -> None:
    store = subject.store
    assert not store.has(DIGEST)
    store.write_bytes(DIGEST, DATA)
    store.write_bytes(DIGEST, DATA)  # again: a no-op
    assert store.has(DIGEST)
    assert store.read_bytes(DIGEST, len(DATA)) == DATA
    with store.open(DIGEST) as blob:
        assert blob.read() == DATA
    assert store.digests() == [DIGEST]


async def test_an_ingested_blob_reads_back_whole(subject: Subject) -> None:
    await subject.store.ingest(DIGEST, len(DATA), chunks(DATA))
    assert subject.store.read_bytes(DIGEST, len(DATA)) == DATA
    assert subject.half_written() == []


@pytest.mark.parametrize(
    ("sent", "size", "found"),
    [
        (DATA + b"x", len(DATA), "unexpected size: expected 36000, got at least 36001"),
        (DATA[:-1], len(DATA), "unexpected size: expected 36000, got 35999"),
        (DATA[:-1] + b"?", len(DATA), "failed to verify digest"),
        (DATA[:-1] + b"?", None, "failed to verify digest"),
    ],
    ids=["too long", "too short", "other bytes", "other bytes, no size"],
)
async def test_ingest_refuses_what_the_digest_and_size_do_not_name(
    subject: Subject, sent: bytes, size: int | None, found: str
) -> None:
    with pytest.raises(DigestMismatch, match=found) as raised:
        await subject.store.ingest(DIGEST, size, chunks(sent))
    assert raised.value.http_status == 400
    assert not subject.store.has(DIGEST)
    assert subject.store.digests() == []
    assert subject.half_written() == []


async def test_write_refuses_bytes_the_digest_does_not_name(subject: Subject) -> None:
    with pytest.raises(DigestMismatch, match="failed to verify digest"):
        subject.store.write_bytes(OTHER, DATA)
    assert subject.store.digests() == []


async def test_ingest_of_a_stored_blob_reads_nothing(subject: Subject) -> None:
    subject.store.write_bytes(DIGEST, DATA)

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the stream was read")
        yield b""  # an async generator

    await subject.store.ingest(DIGEST, len(DATA), never())
    assert subject.store.read_bytes(DIGEST, len(DATA)) == DATA


async def test_a_cancelled_ingest_leaves_nothing(subject: Subject) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield DATA[:100]
        await trio.sleep_forever()

    with trio.move_on_after(0.01):  # stalls is blocked by then, whatever the clock
        await subject.store.ingest(DIGEST, len(DATA), stalls())
    assert not subject.store.has(DIGEST)
    assert subject.half_written() == []
    assert subject.store.discard_partial() == []


async def test_absent_and_oversized_blobs_are_refused(subject: Subject) -> None:
    store = subject.store
    with pytest.raises(NotFound, match=f"blob {DIGEST} not found"):
        store.read_bytes(DIGEST, 10)
    with pytest.raises(NotFound):
        store.open(DIGEST)
    store.write_bytes(DIGEST, DATA)
    with pytest.raises(InvalidParameter, match="larger than the limit of 10 bytes"):
        store.read_bytes(DIGEST, 10)


@pytest.mark.parametrize(
    "bad", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64, "../../etc/passwd", ""]
)
async def test_a_digest_is_checked_before_it_is_used(subject: Subject, bad: str) -> None:
    store = subject.store
    calls: list[Callable[[], object]] = [
        lambda: store.has(bad),
        lambda: store.read_bytes(bad, 10),
        lambda: store.open(bad),
        lambda: store.write_bytes(bad, b""),
        lambda: store.delete(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidParameter, match="invalid digest"):
            call()
    with pytest.raises(InvalidParameter, match="invalid digest"):
        await store.ingest(bad, 0, chunks(b""))


async def test_delete_removes_and_is_idempotent(subject: Subject) -> None:
    subject.store.write_bytes(DIGEST, DATA)
    subject.store.delete(DIGEST)
    subject.store.delete(DIGEST)
    assert not subject.store.has(DIGEST)
    assert subject.store.digests() == []


@contextmanager
def real_full_disk(directory: Path) -> Iterator[tuple[Subject, Callable[[], None]]]:
    needs(root=True)
    with small_disk(directory / "disk", "4m") as disk:
        subject = real_store(disk)
        filler = fill(disk)
        yield subject, filler.unlink


@contextmanager
def fake_full_disk(directory: Path) -> Iterator[tuple[Subject, Callable[[], None]]]:
    subject = fake_store(directory)
    assert isinstance(subject.store, FakeContent)
    faults = subject.store.faults
    faults.disk_full = True

    def free() -> None:
        faults.disk_full = False

    yield subject, free


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_full_disk_is_disk_full_and_leaves_nothing(
    tmp_path: Path, impl: str, streamed: bool
) -> None:
    full: Callable[[Path], AbstractContextManager[tuple[Subject, Callable[[], None]]]] = (
        fake_full_disk if impl == "fake" else real_full_disk
    )
    with full(tmp_path) as (subject, free):
        with pytest.raises(DiskFull) as raised:
            if streamed:
                await subject.store.ingest(DIGEST, len(DATA), chunks(DATA))
            else:
                subject.store.write_bytes(DIGEST, DATA)
        assert raised.value.http_status == 503
        assert raised.value.message.startswith("no space left on device: ")
        assert not subject.store.has(DIGEST)
        assert subject.half_written() == []
        free()
        subject.store.write_bytes(DIGEST, DATA)  # space is back: so is the store
        assert subject.store.has(DIGEST)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=4096), flip=st.integers(min_value=0))
def test_any_bytes_round_trip_and_any_changed_byte_is_refused(
    make: Callable[[Path], Subject], data: bytes, flip: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = make(Path(directory)).store
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if data:
            changed = bytearray(data)
            changed[flip % len(data)] ^= 0x01
            with pytest.raises(DigestMismatch):
                store.write_bytes(digest, bytes(changed))
            assert not store.has(digest)
        store.write_bytes(digest, data)
        assert store.read_bytes(digest, len(data)) == data
