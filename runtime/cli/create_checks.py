"""The options of `berth create`/`run` for health checks, the log driver and the init,
as docker's (cli/command/container/opts.go): what they add to the create request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from berth.domain.errors import InvalidParameter
from berth.domain.health import parse_go_duration


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
