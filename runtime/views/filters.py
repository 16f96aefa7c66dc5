"""Docker's `filters`, as the API receives them (JSON) and as the CLI takes them (k=v).

Values of one key are OR-ed, keys are AND-ed; `ps` and `events` both use these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping

import re2

from berth.domain.errors import InvalidParameter

Filters = dict[str, list[str]]
# Patterns come from clients: RE2 matches in time linear in the text, whatever the
# pattern, where Python's backtracking `re` can take forever (ADR/0016).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a client's bad pattern is its 400, not berthd's log line


def parse_query_filters(text: str, allowed: Collection[str] | None = None) -> Filters:
    """The `filters` query parameter: `{"key": ["v"]}`, or the older `{"key": {"v": true}}`."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"invalid filters: {text[:200]}") from None
    if not isinstance(raw, dict):
        raise InvalidParameter(f"invalid filters: {text}")
    filters: Filters = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            values = [str(k) for k, v in value.items() if v]
        elif isinstance(value, list):
            values = [str(v) for v in value]
        elif isinstance(value, str):
            values = [value]
        else:
            raise InvalidParameter(f"Invalid filter '{key}'")
        if allowed is not None and key not in allowed:
            raise InvalidParameter(f"Invalid filter '{key}'")
        filters[str(key)] = values
    return filters


def parse_cli_filters(items: Iterable[str]) -> Filters:
    """`--filter key=value`, repeated."""
    filters: Filters = {}
    for item in items:
        key, _, value = item.partition("=")
        filters.setdefault(key, []).append(value)
    return filters


def label_matches(labels: Mapping[str, str], wanted: str) -> bool:
    """`label=key` (present) or `label=key=value` (equal)."""
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def pattern_filter(key: str, pattern: str) -> Callable[[str], bool]:
    """A filter value that is a regular expression (Go's RE2 syntax), searched for
    anywhere in the text as dockerd does; a 400 when it does not compile."""
    try:
        compiled = re2.compile(pattern, _RE2_OPTIONS)
    except (re2.error, UnicodeError, TypeError):
        raise InvalidParameter(f"invalid filter '{key}={pattern}'") from None

    def matches(text: str) -> bool:
        return compiled.search(text) is not None

    return matches
