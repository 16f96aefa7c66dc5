"""Health checks as dockerd 20.10 runs them (daemon/health.go): the probe a container's
`Config.Healthcheck` asks for, and what one probe's result does to its health.

Pure: the runtime runs the probe and reads the clock; this says what follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .config import Config, HealthConfig
from .errors import InvalidParameter

STARTING = "starting"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
NO_HEALTHCHECK = "none"  # what the `health` filter of `ps` calls a container without one
STATUSES = (STARTING, HEALTHY, UNHEALTHY, NO_HEALTHCHECK)

# dockerd's defaults and bounds (daemon/health.go).
SECOND_NS = 1_000_000_000
DEFAULT_INTERVAL_NS = 30 * SECOND_NS
DEFAULT_TIMEOUT_NS = 30 * SECOND_NS
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096
EXIT_HEALTHY = 0


@dataclass(frozen=True)
class Probe:
    """What to run in the container, and when: durations in nanoseconds."""

    command: tuple[str, ...]
    interval: int = DEFAULT_INTERVAL_NS
    timeout: int = DEFAULT_TIMEOUT_NS
    retries: int = DEFAULT_RETRIES
    start_period: int = 0


def probe_of(config: Mapping[str, Any]) -> Probe | None:
    """The probe of a container's (merged) Config document, or None: no Healthcheck,
    `NONE`, or a test dockerd does not know (it only warns)."""
    parsed = Config.from_docker(dict(config))
    health = parsed.healthcheck
    if health is None or not health.test:
        return None
    kind, *args = health.test
    if kind == "CMD" and args:
        command = tuple(args)
    elif kind == "CMD-SHELL" and args:
        command = (*(parsed.shell or ("/bin/sh", "-c")), " ".join(args))
    else:
        return None
    return Probe(
        command,
        interval=health.interval or DEFAULT_INTERVAL_NS,
        timeout=health.timeout or DEFAULT_TIMEOUT_NS,
        retries=health.retries or DEFAULT_RETRIES,
        start_period=health.start_period,
    )


def merge_healthcheck(user: HealthConfig | None, image: HealthConfig | None) -> HealthConfig | None:
    """moby's `merge`: the image's check when the user gave none, else each field the
    user left zero from the image's."""
    if user is None or image is None:
        return user if user is not None else image
    return replace(
        user,
        test=user.test or image.test,
        interval=user.interval or image.interval,
        timeout=user.timeout or image.timeout,
        start_period=user.start_period or image.start_period,
        retries=user.retries or image.retries,
    )


@dataclass(frozen=True)
class ProbeResult:
    """One probe: Docker's `HealthcheckResult`."""

    start: datetime
    end: datetime
    exit_code: int
    output: str

    @classmethod
    def of(cls, start: datetime, end: datetime, exit_code: int, output: bytes) -> ProbeResult:
        """Output cut to dockerd's 4096 bytes (then decoded as Go's JSON would)."""
        text = output[:MAX_OUTPUT_LEN].decode(errors="replace")
        return cls(start, end, exit_code, text)


def timed_out(start: datetime, end: datetime, timeout: int) -> ProbeResult:
    return ProbeResult(start, end, -1, f"Health check exceeded timeout ({go_duration(timeout)})")


@dataclass(frozen=True)
class Health:
    """`State.Health`: the status, the failures in a row, the last five results."""

    status: str = STARTING
    failing_streak: int = 0
    log: tuple[ProbeResult, ...] = field(default=())

    def after(self, result: ProbeResult, probe: Probe, started_at: datetime) -> Health:
        """dockerd's handleProbeResult: a success makes it healthy; a failure counts,
        except while it is still starting within its start period, and `retries` of them
        in a row make it unhealthy."""
        log = (*self.log, result)[-MAX_LOG_ENTRIES:]
        if result.exit_code == EXIT_HEALTHY:
            return Health(HEALTHY, 0, log)
        in_start_period = (result.start - started_at).total_seconds() * SECOND_NS < (
            probe.start_period
        )
        if self.status == STARTING and in_start_period:
            return Health(self.status, self.failing_streak, log)
        streak = self.failing_streak + 1
        return Health(UNHEALTHY if streak >= probe.retries else self.status, streak, log)


def ps_suffix(status: str | None) -> str:
    """What `docker ps` adds to "Up 5 minutes" for a running container's health."""
    if not status:
        return ""
    return " (health: starting)" if status == STARTING else f" ({status})"


def go_duration(nanoseconds: int) -> str:
    """Go's `time.Duration.String()` for the durations dockerd prints ("30s", "1m30s",
    "500ms")."""
    if nanoseconds == 0:
        return "0s"
    if nanoseconds < SECOND_NS:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if nanoseconds >= size:
                return f"{_trimmed(nanoseconds / size)}{unit}"
    seconds = nanoseconds / SECOND_NS
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{_trimmed(round(secs, 9))}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": SECOND_NS,
            "m": 60 * SECOND_NS, "h": 3600 * SECOND_NS}  # fmt: skip
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Go's `time.ParseDuration` ("1m30s", "500ms", "-2s", "0"), in nanoseconds."""
    body = text[1:] if text[:1] in "+-" else text
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    total, at = 0.0, 0
    for part in _DURATION_PART.finditer(body):
        if part.start() != at:
            break
        total += float(part.group(1)) * _UNIT_NS[part.group(2)]
        at = part.end()
    if not body or at != len(body):
        raise InvalidParameter(f'time: invalid duration "{text}"')
    return sign * round(total)


def _trimmed(number: float) -> str:
    return f"{number:.9f}".rstrip("0").rstrip(".")


def health_filter_values(values: Sequence[str]) -> None:
    """dockerd's check of `ps --filter health=`."""
    for value in values:
        if value not in STATUSES:
            raise InvalidParameter(f"Unrecognised filter value for health: {value}")
