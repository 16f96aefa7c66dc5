"""The options of `berth create`/`run` for health checks, the log driver and the init,
as docker's (cli/command/container/opts.go): what they add to the create request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from berth.domain.errors import InvalidParameter
from berth.domain.health import parse_go_duration

_DURATIONS = ("health_interval", "health_timeout", "health_start_period")


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_go_duration(value) if value else 0
    except InvalidParameter as refused:
        flag = "--" + (param.name or "").replace("_", "-")
        raise click.UsageError(
            f'invalid argument "{value}" for "{flag}" flag: {refused.message}', ctx
        ) from None


def check_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--health-cmd", default="", help="Command to run to check health."),
        click.option("--health-interval", default="", callback=_duration,
                     help="Time between running the check (ms|s|m|h)."),
        click.option("--health-timeout", default="", callback=_duration,
                     help="Maximum time to allow one check to run (ms|s|m|h)."),
        click.option("--health-start-period", default="", callback=_duration,
                     help="Start period for the container to initialize (ms|s|m|h)."),
        click.option("--health-retries", default=0, type=int,
                     help="Consecutive failures needed to report unhealthy."),
        click.option("--no-healthcheck", is_flag=True, help="Disable any HEALTHCHECK."),
        click.option("--log-driver", default="", help="Logging driver for the container."),
        click.option("--log-opt", multiple=True, help="Log driver options."),
        click.option("--init", is_flag=True, help="Run an init that reaps and forwards signals."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def check_body(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the options add to the request's Config and its HostConfig."""
    host: dict[str, Any] = {
        "LogConfig": {"Type": options["log_driver"], "Config": _log_opts(options)},
    }
    if options["init"]:
        host["Init"] = True
    health = _healthcheck(options)
    return ({"Healthcheck": health} if health is not None else {}), host


def _log_opts(options: dict[str, Any]) -> dict[str, str]:
    opts = dict(item.partition("=")[::2] for item in options["log_opt"])
    if options["log_driver"] == "none" and opts:
        raise InvalidParameter("invalid logging opts for driver none")
    return opts


def _healthcheck(options: dict[str, Any]) -> dict[str, Any] | None:
    durations = [options[name] for name in _DURATIONS]
    configured = bool(options["health_cmd"]) or any(durations) or options["health_retries"]
    if options["no_healthcheck"]:
        if configured:
            raise InvalidParameter("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not configured:
        return None
    for name, value in zip(_DURATIONS, durations, strict=True):
        if value < 0:
            raise InvalidParameter(f"--{name.replace('_', '-')} cannot be negative")
    if options["health_retries"] < 0:
        raise InvalidParameter("--health-retries cannot be negative")
    interval, timeout, start_period = durations
    return {
        "Test": ["CMD-SHELL", options["health_cmd"]] if options["health_cmd"] else None,
        "Interval": interval,
        "Timeout": timeout,
        "StartPeriod": start_period,
        "Retries": options["health_retries"],
    }
