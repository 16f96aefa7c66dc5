"""A time given on the command line (`--since`, `--until`), read as the docker CLI does."""

from __future__ import annotations

from datetime import UTC, datetime

from berth.domain.timestamps import parse_time


def user_time(text: str) -> datetime:
    """A duration counts back from now, and a time without a zone is local time."""
    now = datetime.now(UTC).astimezone()
    return parse_time(text, now.tzinfo or UTC, now)
