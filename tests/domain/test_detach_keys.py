"""Detach keys as dockerd parses them (moby/term ToBytes) and finds them in typed input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.detach_keys import DEFAULT_DETACH_KEYS, DetachScanner, parse_detach_keys
from berth.domain.errors import InvalidParameter


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("", b"\x10\x11"),
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-@", b"\x00"),
        ("ctrl-a,b", b"\x01b"),
        ("ctrl-_,DEL", b"\x1f\x7f"),
        ("ctrl-\\,ctrl-],ctrl-^", b"\x1c\x1d\x1e"),
        ("a,,", None),
        ("x,y,z", b"xyz"),
    ],
)
def test_detach_keys_parse_as_dockerds(text: str, keys: bytes | None) -> None:
    if keys is None:
        with pytest.raises(InvalidParameter) as refused:
            parse_detach_keys(text)
        assert refused.value.message == f"Invalid detach keys ({text}) provided"
    else:
        assert parse_detach_keys(text) == keys


@pytest.mark.parametrize("text", ["ctrl-1", "ctrl-P", "ctrl-", "ab", "shift-a", "del"])
def test_unknown_keys_are_a_400_naming_the_setting(text: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse_detach_keys(text)
    assert refused.value.http_status == 400
    assert refused.value.message == f"Invalid detach keys ({text}) provided"


def _scan(keys: bytes, chunks: list[bytes]) -> tuple[bytes, bool]:
    scanner = DetachScanner(keys)
    passed = b""
    for chunk in chunks:
        out, detached = scanner.feed(chunk)
        passed += out
        if detached:
            return passed, True
    return passed, False


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(
    keys=st.binary(min_size=1, max_size=3),
    typed=st.binary(max_size=64),
    cuts=st.lists(st.integers(0, 64), max_size=6),
)
def test_scanning_passes_what_was_typed_up_to_the_first_keys_however_it_arrives(
    keys: bytes, typed: bytes, cuts: list[int]
) -> None:
    passed, detached = _scan(keys, _split(typed, cuts))
    at = typed.find(keys)
    if at < 0:
        # Nothing is lost: all of it, but a trailing partial match still held back.
        assert not detached
        assert typed.startswith(passed)
        held = typed[len(passed) :]
        assert len(held) < len(keys) and keys.startswith(held)
    else:
        assert detached
        assert passed == typed[:at]


def test_default_keys_end_an_attach_split_across_reads() -> None:
    assert _scan(DEFAULT_DETACH_KEYS, [b"ls\r\x10", b"\x11more"]) == (b"ls\r", True)
    assert _scan(DEFAULT_DETACH_KEYS, [b"\x10", b"x"]) == (b"\x10x", False)


def test_keys_that_overlap_what_was_typed_are_still_found() -> None:
    assert _scan(b"aab", [b"aaab"]) == (b"a", True)
    assert _scan(b"aab", [b"a", b"a", b"a", b"b"]) == (b"a", True)
