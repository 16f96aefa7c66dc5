"""The create request `berth run`/`berth create` build from docker's health, log-driver
and init flags, and their errors (docker's words), without a daemon."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.health import go_duration, parse_go_duration
from berth.runtime.cli.main import main
from berth.runtime.cli.run import create, run

from .test_cli_create_flags import body_of


def test_health_log_and_init_flags_build_dockers_request() -> None:
    body = body_of(
        run,
        "--health-cmd", "test -e /ok", "--health-interval", "1m30s",
        "--health-timeout", "500ms", "--health-start-period", "2s", "--health-retries", "4",
        "--log-driver", "local", "--log-opt", "max-size=1m", "--log-opt", "max-file=3",
        "--init", "busybox",
    )  # fmt: skip
    assert body["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -e /ok"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 2_000_000_000,
        "Retries": 4,
    }
    host = body["HostConfig"]
    assert host["LogConfig"] == {"Type": "local", "Config": {"max-size": "1m", "max-file": "3"}}
    assert host["Init"] is True


def test_without_them_nothing_is_asked() -> None:
    body = body_of(create, "busybox")
    assert "Healthcheck" not in body
    assert body["HostConfig"]["LogConfig"] == {"Type": "", "Config": {}}
    assert "Init" not in body["HostConfig"]
    assert body_of(create, "--no-healthcheck", "busybox")["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--no-healthcheck", "--health-retries", "2"), "--no-healthcheck conflicts with"),
        (("--health-interval", "-1s"), "--health-interval cannot be negative"),
        (("--health-retries", "-1"), "--health-retries cannot be negative"),
        (("--log-driver", "none", "--log-opt", "a=b"), "invalid logging opts for driver none"),
    ],
)
def test_dockers_checks_of_the_flags(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        body_of(run, *args, "busybox")


def test_a_bad_duration_is_a_flag_error() -> None:
    result = CliRunner().invoke(
        main, ["-H", "unix:///nonexistent/berth.sock", "run", "--health-timeout", "soon", "x"]
    )
    assert result.exit_code == 125
    assert 'invalid argument "soon" for "--health-timeout" flag: time: invalid duration' in (
        result.output
    )


@given(st.integers(0, 10**15))
def test_go_durations_read_back(ns: int) -> None:
    assert parse_go_duration(go_duration(ns)) == pytest.approx(ns, rel=1e-9, abs=1)


@pytest.mark.parametrize("text", ["", "1", "1x", "s", "1s2", "--1s", "1.s.s"])
def test_what_go_refuses_as_a_duration(text: str) -> None:
    with pytest.raises(InvalidParameter, match="time: invalid duration"):
        parse_go_duration(text)
