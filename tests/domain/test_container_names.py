"""Unit tests for random container names and name validation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.container_names import ADJECTIVES, NAME_PATTERN, NOUNS, random_name, validate_name
from berth.domain.errors import InvalidParameter

A = len(ADJECTIVES)
N = len(NOUNS)


def test_word_lists_are_large_unique_lowercase_ascii() -> None:
    assert A >= 60
    assert N >= 150
    assert len(set(ADJECTIVES)) == A
    assert len(set(NOUNS)) == N
    for word in (*ADJECTIVES, *NOUNS):
        assert re.fullmatch(r"[a-z]+", word), word


def test_pattern_is_dockers() -> None:
    assert NAME_PATTERN.pattern == r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$"


def test_every_combination_is_a_valid_name() -> None:
    seen = set()
    for draw in range(A * N):
        name = random_name(draw)
        assert NAME_PATTERN.fullmatch(name), name
        assert validate_name(name) == "/" + name
        retried = random_name(draw, retry=1)
        assert NAME_PATTERN.fullmatch(retried), retried
        seen.add(name)
    # Every combination but the forbidden one is reachable.
    assert len(seen) == A * N - 1
    assert "boring_wozniak" not in seen


def test_draw_selects_adjective_then_noun() -> None:
    assert random_name(0) == f"{ADJECTIVES[0]}_{NOUNS[0]}"
    assert random_name(3 + A * 7) == f"{ADJECTIVES[3]}_{NOUNS[7]}"
    assert random_name(A - 1) == f"{ADJECTIVES[-1]}_{NOUNS[0]}"
    assert random_name(A * N) == random_name(0)


def test_boring_wozniak_is_skipped_to_the_next_draw() -> None:
    boring, wozniak = ADJECTIVES.index("boring"), NOUNS.index("wozniak")
    draw = boring + A * wozniak
    assert random_name(draw) == f"{ADJECTIVES[boring + 1]}_wozniak"
    assert random_name(draw + A * N * 3, retry=2) == f"{ADJECTIVES[boring + 1]}_wozniak3"


@pytest.mark.parametrize("digit", range(10))
def test_retry_appends_a_digit_from_the_draw(digit: int) -> None:
    draw = 5 + A * 11 + digit * A * N
    base = f"{ADJECTIVES[5]}_{NOUNS[11]}"
    assert random_name(draw) == base
    assert random_name(draw, retry=0) == base
    assert random_name(draw, retry=1) == f"{base}{digit}"
    assert random_name(draw, retry=4) == f"{base}{digit}"


@pytest.mark.parametrize("bad", [-1, -(A * N)])
def test_negative_draw_is_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        random_name(bad)


@given(st.integers(min_value=0, max_value=2**80), st.integers(min_value=0, max_value=5))
def test_any_draw_gives_a_valid_name(draw: int, retry: int) -> None:
    name = random_name(draw, retry)
    assert NAME_PATTERN.fullmatch(name)
    assert name != "boring_wozniak"
    adjective, _, rest = name.partition("_")
    assert adjective in ADJECTIVES
    noun = rest.rstrip("0123456789")
    assert noun in NOUNS
    assert (rest != noun) == (retry > 0)


@pytest.mark.parametrize(
    ("given_name", "stored"),
    [
        ("web", "/web"),
        ("/web", "/web"),
        ("My.App-2_x", "/My.App-2_x"),
        ("/0x", "/0x"),
        ("a..", "/a.."),
    ],
)
def test_validate_name_returns_stored_form(given_name: str, stored: str) -> None:
    assert validate_name(given_name) == stored


@pytest.mark.parametrize(
    "bad",
    ["", "/", "a", "/a", "_web", "-web", ".web", "we b", "web\n", "a/b", "//web", "wéb", "web!"],
)
def test_validate_name_refuses_invalid(bad: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_name(bad)
    assert info.value.message == (
        f"Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    )
    assert info.value.http_status == 400
