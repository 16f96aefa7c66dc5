"""`GET /images/json`'s filters, as dockerd 20.10 applies them (daemon/images/images.go).

`dangling`, `label`, `before`, `since` and `reference`; values of one key are OR-ed (for
`label`, every value must match, as dockerd's `MatchKVList`), keys are AND-ed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from berth.domain.errors import InvalidParameter

from .filters import Filters, label_matches

ALLOWED = frozenset({"dangling", "label", "before", "since", "reference"})
Entry = Mapping[str, Any]


def _dangling(values: list[str]) -> Callable[[Entry], bool]:
    if set(values) == {"true"}:
        return lambda e: not e["RepoTags"]
    if set(values) == {"false"}:
        return lambda e: bool(e["RepoTags"])
    raise InvalidParameter(f"Invalid filter 'dangling=[{' '.join(values)}]'")


def _matching_tags(entry: Entry, patterns: list[str]) -> list[str]:
    """Docker's `reference.FamiliarMatch`: the pattern against each familiar tag, and
    against its name alone (`busybox` matches `busybox:latest`)."""
    kept = []
    for tag in entry["RepoTags"]:
        name = tag.rpartition(":")[0] if ":" in tag.rpartition("/")[2] else tag
        if any(fnmatch.fnmatchcase(t, p) for p in patterns for t in (tag, name)):
            kept.append(tag)
    return kept


def _created_of(ref: str, entries: Sequence[Entry]) -> int:
    for entry in entries:
        full = entry["Id"]
        if ref in entry["RepoTags"] or ref in (full, full.removeprefix("sha256:")):
            return int(entry["Created"])
        if full.removeprefix("sha256:").startswith(ref):
            return int(entry["Created"])
        if ":" not in ref.rpartition("/")[2] and f"{ref}:latest" in entry["RepoTags"]:
            return int(entry["Created"])
    raise InvalidParameter(f"No such image: {ref}")


def select_images(entries: Sequence[Entry], filters: Filters) -> list[Entry]:
    """The entries `filters` lets through; InvalidParameter (400) for a filter dockerd
    refuses (an unknown key, `dangling` other than true/false, an unknown image)."""
    for key in filters:
        if key not in ALLOWED:
            raise InvalidParameter(f"Invalid filter '{key}'")
    tests: list[Callable[[Entry], bool]] = []
    if "dangling" in filters:
        tests.append(_dangling(filters["dangling"]))
    wanted = filters.get("label", [])
    if wanted:
        tests.append(lambda e: all(label_matches(e.get("Labels") or {}, w) for w in wanted))
    befores = [_created_of(ref, entries) for ref in filters.get("before", [])]
    if befores:
        tests.append(lambda e: int(e["Created"]) < min(befores))
    sinces = [_created_of(ref, entries) for ref in filters.get("since", [])]
    if sinces:
        tests.append(lambda e: int(e["Created"]) > max(sinces))
    chosen = [e for e in entries if all(test(e) for test in tests)]
    patterns = filters.get("reference")
    if not patterns:
        return chosen
    # As dockerd, an image listed by reference shows only the tags that matched.
    found = [{**e, "RepoTags": _matching_tags(e, patterns)} for e in chosen]
    return [e for e in found if e["RepoTags"]]
