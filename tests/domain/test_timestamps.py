"""The one reading of times users write: every front-end's since, until and --at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.timestamps import (
    EARLIEST,
    LATEST,
    parse_duration,
    parse_time,
    unix_seconds,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5s", timedelta(seconds=1.5)),
        (".5h", timedelta(minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("3us", timedelta(microseconds=3)),
        ("3µs", timedelta(microseconds=3)),
        ("-5m", timedelta(minutes=-5)),
        ("+2h", timedelta(hours=2)),
    ],
)
def test_a_duration_counts_back_from_now(text: str, ago: timedelta) -> None:
    assert parse_duration(text) == ago
    assert parse_time(text, UTC, NOW) == NOW - ago


@pytest.mark.parametrize("text", ["10", "0", "m", "", "1x", "1.2.3s", "٣m", "3000000h"])
def test_what_is_not_a_go_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_without_a_now_a_duration_is_no_time() -> None:
    """dockerd's API takes no durations: the docker CLI turns them into times first."""
    with pytest.raises(InvalidParameter):
        parse_time("10m", UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000.25", datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
        ("1700000000.000000001", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("-1.5", datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC)),
        ("1.7e9", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("9223372036854775807", LATEST),
        ("-9223372036854775808", EARLIEST),
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28t10:00:00z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T11:00:00.5+01:00", datetime(2026, 11, 28, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-28", datetime(2026, 11, 28, tzinfo=PARIS)),
        ("2026-11-28T10:30", datetime(2026, 11, 28, 10, 30, tzinfo=PARIS)),
    ],
)
def test_absolute_times(text: str, moment: datetime) -> None:
    """Unix seconds, and RFC 3339 where a time without a zone is in the caller's zone."""
    assert parse_time(text, PARIS, NOW) == moment
    assert parse_time(text, PARIS) == moment


@pytest.mark.parametrize(
    "text", ["", "soon", "1e30", "nan", "inf", "9223372036854775808", "٣", "1_0", " 5", "#1"]
)
def test_what_is_no_time_is_refused_with_the_docker_cli_message(text: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse_time(text, UTC, NOW)
    assert refused.value.message == f"failed to parse value as time or duration: {text!r}"


@given(st.text() | st.from_regex(r"[+-]?[0-9.eE+-]{1,30}", fullmatch=True))
def test_any_text_is_an_aware_time_or_invalid(text: str) -> None:
    try:
        moment = parse_time(text, UTC, NOW)
    except InvalidParameter:
        return
    assert moment.tzinfo is not None
    assert EARLIEST <= moment <= LATEST


@given(st.datetimes(timezones=st.just(UTC)))
def test_unix_seconds_read_back_to_the_same_moment(moment: datetime) -> None:
    assert parse_time(unix_seconds(moment), UTC) == moment
