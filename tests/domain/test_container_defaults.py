"""Docker's defaults decided once: the hostname, the stop signal, run's exit codes."""

from __future__ import annotations

import pytest

from berth.domain.container import container_hostname, default_hostname
from berth.domain.exit_codes import run_failure_code, start_failure_code
from berth.domain.signals import stop_signal

CID = "c0ffee" + "0" * 58
NOT_FOUND = 'exec: "nosuchcmd": executable file not found in $PATH'
NOT_RUNNABLE = 'exec: "/etc/passwd": permission denied'


def test_a_container_without_a_hostname_is_named_by_its_short_id() -> None:
    assert default_hostname(CID) == "c0ffee000000"
    for configured in (None, ""):
        assert container_hostname(configured, CID) == "c0ffee000000"
    assert container_hostname("web", CID) == "web"


def test_stop_sends_the_configured_signal_else_sigterm() -> None:
    assert stop_signal(None) == stop_signal("") == "SIGTERM"
    assert stop_signal("SIGUSR1") == "SIGUSR1"


@pytest.mark.parametrize(
    ("start_failed", "reason", "code"),
    [(True, NOT_FOUND, 127), (True, NOT_RUNNABLE, 126), (False, NOT_FOUND, 125), (False, "x", 125)],
)
def test_docker_runs_exit_codes(start_failed: bool, reason: str, code: int) -> None:
    assert run_failure_code(start_failed, reason) == code
    if start_failed:
        assert start_failure_code(reason) == code
