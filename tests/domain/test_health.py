"""Health checks as dockerd 20.10 runs them (domain/health.py): the probe of a Config,
what each result does to the health, dockerd's limits and words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import HealthConfig
from berth.domain.errors import InvalidParameter
from berth.domain.health import (
    Health,
    Probe,
    ProbeResult,
    go_duration,
    health_filter_values,
    merge_healthcheck,
    probe_of,
    ps_suffix,
    timed_out,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
S = 1_000_000_000


def result(code: int, at: float = 100.0) -> ProbeResult:
    start = T0 + timedelta(seconds=at)
    return ProbeResult(start, start + timedelta(milliseconds=5), code, "")


@pytest.mark.parametrize(
    ("config", "probe"),
    [
        ({"Healthcheck": {"Test": ["CMD", "cat", "/x"]}}, Probe(("cat", "/x"))),
        (
            {"Healthcheck": {"Test": ["CMD-SHELL", "test -e /x"], "Interval": S, "Retries": 5}},
            Probe(("/bin/sh", "-c", "test -e /x"), interval=S, retries=5),
        ),
        (
            {"Healthcheck": {"Test": ["CMD-SHELL", "exit 0"]}, "Shell": ["/bin/ash", "-e", "-c"]},
            Probe(("/bin/ash", "-e", "-c", "exit 0")),
        ),
        ({"Healthcheck": {"Test": ["NONE"]}}, None),
        ({"Healthcheck": {"Test": []}}, None),
        ({"Healthcheck": {"Test": ["WHAT", "x"]}}, None),  # dockerd only warns
        ({}, None),
    ],
)
def test_the_probe_of_a_config(config: dict[str, object], probe: Probe | None) -> None:
    assert probe_of(config) == probe


def test_a_success_makes_it_healthy_and_retries_failures_unhealthy() -> None:
    probe = Probe(("true",), retries=2)
    health = Health().after(result(0), probe, T0)
    assert (health.status, health.failing_streak) == ("healthy", 0)
    health = health.after(result(1), probe, T0)
    assert (health.status, health.failing_streak) == ("healthy", 1)
    health = health.after(result(1), probe, T0)
    assert (health.status, health.failing_streak) == ("unhealthy", 2)
    health = health.after(result(0), probe, T0)
    assert (health.status, health.failing_streak) == ("healthy", 0)


def test_failures_within_the_start_period_do_not_count_while_starting() -> None:
    probe = Probe(("true",), retries=1, start_period=60 * S)
    early = Health().after(result(1, at=30), probe, T0)
    assert (early.status, early.failing_streak) == ("starting", 0)
    late = early.after(result(1, at=61), probe, T0)
    assert (late.status, late.failing_streak) == ("unhealthy", 1)
    # Once healthy, the start period no longer shields a failure.
    healthy = Health().after(result(0, at=1), probe, T0).after(result(1, at=2), probe, T0)
    assert healthy.status == "unhealthy"


@given(st.lists(st.integers(0, 3), max_size=30), st.integers(1, 5))
def test_the_log_keeps_the_last_five_and_the_streak_counts_failures_in_a_row(
    codes: list[int], retries: int
) -> None:
    probe = Probe(("true",), retries=retries)
    health = Health()
    for n, code in enumerate(codes):
        health = health.after(result(code, at=n), probe, T0)
    assert [r.exit_code for r in health.log] == codes[-5:]
    streak = len(codes) - len("".join("x" if c == 0 else "f" for c in codes).rstrip("f"))
    assert health.failing_streak == streak
    if codes:
        assert health.status == (
            "healthy" if codes[-1] == 0 or (streak < retries and 0 in codes) else
            "unhealthy" if streak >= retries else "starting"
        )  # fmt: skip


def test_output_is_cut_to_4096_bytes_and_a_timeout_says_so() -> None:
    cut = ProbeResult.of(T0, T0, 0, b"x" * 5000)
    assert cut.output == "x" * 4096
    late = timed_out(T0, T0, 30 * S)
    assert (late.exit_code, late.output) == (-1, "Health check exceeded timeout (30s)")


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "0s"), (30 * S, "30s"), (90 * S, "1m30s"), (500_000_000, "500ms"),
     (1_500_000_000, "1.5s"), (3600 * S, "1h0m0s"), (1500, "1.5µs")],
)  # fmt: skip
def test_go_durations(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_the_users_check_is_merged_over_the_images() -> None:
    image = HealthConfig(("CMD", "true"), interval=5, timeout=6, retries=2)
    assert merge_healthcheck(None, image) == image
    assert merge_healthcheck(HealthConfig(("NONE",)), image) == HealthConfig(
        ("NONE",), interval=5, timeout=6, retries=2
    )
    assert merge_healthcheck(HealthConfig(retries=9), None) == HealthConfig(retries=9)


def test_ps_and_its_filter() -> None:
    assert ps_suffix("starting") == " (health: starting)"
    assert ps_suffix("unhealthy") == " (unhealthy)"
    assert ps_suffix(None) == ""
    health_filter_values(["starting", "healthy", "unhealthy", "none"])
    with pytest.raises(InvalidParameter, match="Unrecognised filter value for health: ok"):
        health_filter_values(["ok"])
