"""gzip layers inflate through ISA-L (adapters/snapshots/decompress.py, ADR/0041): the same
bytes as zlib for any members, and a cut stream is refused as before."""

from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.adapters.snapshots import decompress
from berth.domain.errors import InvalidParameter

MEMBERS = st.lists(st.binary(max_size=3 * decompress.CHUNK // 2), min_size=1, max_size=3)


def test_isal_does_the_inflating_when_it_is_installed() -> None:
    pytest.importorskip("isal")
    assert decompress.inflate_module().__name__ == "isal.isal_zlib"


@settings(max_examples=25, deadline=None)
@given(members=MEMBERS, level=st.integers(0, 9))
def test_concatenated_members_inflate_to_their_bytes(members: list[bytes], level: int) -> None:
    blob = b"".join(gzip.compress(member, compresslevel=level) for member in members)
    chunks = list(decompress.decompressed(io.BytesIO(blob)))
    assert b"".join(chunks) == b"".join(members)
    assert all(len(chunk) <= decompress.CHUNK for chunk in chunks)


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=1, max_size=4096), cut=st.integers(1, 8))
def test_a_cut_stream_is_refused(data: bytes, cut: int) -> None:
    blob = gzip.compress(data)[:-cut]
    with pytest.raises(InvalidParameter, match="failed to unpack layer: gzip"):
        b"".join(decompress.decompressed(io.BytesIO(blob)))
