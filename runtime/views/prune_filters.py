"""The filters of dockerd's prunes (`until`, `label`, `label!`, images' `dangling`), read
once for containers, images and networks.

As moby's `matchLabels`: every `label` must match (AND-ed, unlike a list's filters), and
an object is spared by `label!` only when all of those match. `until` is moby's
`GetTimestamp` (a duration back from now, unix seconds or a date): what was created at or
after it is spared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from berth.domain.errors import InvalidParameter
from berth.domain.timestamps import parse_time

from .filters import label_matches


@dataclass(frozen=True)
class PruneFilters:
    until: datetime | None = None
    labels: tuple[str, ...] = ()
    not_labels: tuple[str, ...] = ()
    dangling_only: bool = True  # images only

    def spares(self, created: datetime | None, labels: Mapping[str, str]) -> bool:
        """Whether an object created at `created` with `labels` is left alone."""
        if self.until is not None and (created is None or created >= self.until):
            return True
        if not all(label_matches(labels, wanted) for wanted in self.labels):
            return True
        return bool(self.not_labels) and all(label_matches(labels, u) for u in self.not_labels)


def prune_filters(
    filters: Mapping[str, Sequence[str]], allowed: Collection[str], now: datetime
) -> PruneFilters:
    """The filters of a prune request; a 400 for a key this prune does not take."""
    for key in filters:
        if key not in allowed:
            raise InvalidParameter(f"Invalid filter '{key}'")
    untils = filters.get("until", [])
    if len(untils) > 1:
        raise InvalidParameter("more than one until filter specified")
    dangling = list(filters.get("dangling", []))
    # moby's images prune: any `false` prunes tagged images too; else one must be `true`.
    dangling_only = not any(value in ("false", "0") for value in dangling)
    if dangling and dangling_only and not any(value in ("true", "1") for value in dangling):
        raise InvalidParameter(f"Invalid filter 'dangling=[{' '.join(dangling)}]'")
    return PruneFilters(
        until=parse_time(untils[0], UTC, now) if untils else None,
        labels=tuple(filters.get("label", [])),
        not_labels=tuple(filters.get("label!", [])),
        dangling_only=dangling_only,
    )
