"""Docker's JSON progress messages, shaped and throttled as dockerd sends them.

`progress_message` builds the objects of a pull's progress stream
(`{"status":…,"progressDetail":{…},"progress":"[==>  ]  1.2MB/2.3MB","id":…}`), with the
bar rendered as moby's `JSONProgress.String` does for a 200-column width and sizes as
go-units' `HumanSize` (decimal units, 4 significant digits). `DownloadMeter` decides
when a "Downloading" update is due, following moby's progress reader: every 1% (at most
512 KiB) of the blob and at most every 100 ms, plus the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

ProgressCallback = Callable[[dict[str, Any]], None]

# Statuses that carry an (empty) progressDetail in dockerd's stream.
_WITH_DETAIL = frozenset(
    {
        "Pulling fs layer",
        "Waiting",
        "Verifying Checksum",
        "Download complete",
        "Already exists",
        "Pull complete",
        "Downloading",
        "Extracting",
    }
)
_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BAR_WIDTH = 50
_UPDATE_EVERY = 512 * 1024
_MIN_INTERVAL = 0.1


def short_id(digest: str) -> str:
    """The 12 hex characters dockerd uses as a layer's progress id."""
    return digest.partition(":")[2][:12] if ":" in digest else digest[:12]


def human_size(size: float) -> str:
    """go-units HumanSize: `36.45kB`, `1.084MB`, `512B`."""
    unit = 0
    while size >= 1000.0 and unit < len(_UNITS) - 1:
        size /= 1000.0
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


def progress_bar(current: int, total: int | None) -> str:
    """moby's JSONProgress.String for a 200-column terminal, without the time left."""
    if current <= 0 and (total is None or total <= 0):
        return ""
    if total is None or total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current / total * 100) // 2, _BAR_WIDTH)
    bar = "[" + "=" * filled + ">" + " " * (_BAR_WIDTH - filled) + "] "
    if current > total:
        return bar + f"{human_size(current):>8}"
    return bar + f"{human_size(current):>8}/{human_size(total)}"


def progress_message(
    status: str,
    id: str | None = None,
    current: int | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """One progress object, with the keys in dockerd's order.

    `progress_message("Pulling from library/busybox", "latest")` has no progressDetail;
    layer statuses get `progressDetail: {}`; with `current` (and `total`) it becomes a
    Downloading/Extracting update with the bar string.
    """
    message: dict[str, Any] = {"status": status}
    if current is not None:
        detail: dict[str, int] = {"current": current}
        if total is not None and total > 0:
            detail["total"] = total
        message["progressDetail"] = detail
        message["progress"] = progress_bar(current, total)
    elif status in _WITH_DETAIL and id is not None:
        message["progressDetail"] = {}
    if id is not None:
        message["id"] = id
    return message


class DownloadMeter:
    """Counts bytes of one blob and says when a "Downloading" update is due."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.current = 0
        self._clock = clock
        self._last_update = 0
        self._last_emit = float("-inf")
        self._every = _UPDATE_EVERY
        if total > 0:
            self._every = min(self._every, int(0.01 * total))

    def add(self, count: int) -> bool:
        """Record `count` more bytes; True when an update should be sent now."""
        self.current += count
        final = 0 < self.total <= self.current
        if self.current - self._last_update <= self._every and not (
            final and self.current != self._last_update
        ):
            return False
        self._last_update = self.current
        now = self._clock()
        if final or now - self._last_emit >= _MIN_INTERVAL:
            self._last_emit = now
            return True
        return False

    def message(self, id: str) -> dict[str, Any]:
        return progress_message("Downloading", id, self.current, self.total)
