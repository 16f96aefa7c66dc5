"""`berth create` and `berth run`: their options (cli/create.py) and the flow they run
(cli/run_flow.py)."""

from __future__ import annotations

from typing import Any

import click

from berth.domain.exit_codes import ENGINE_ERROR

from .create import COMMAND_AFTER_IMAGE, DockerFlags, create_options
from .run_flow import create_container, run_container
from .session import connect, daemon_errors


@click.command(cls=DockerFlags, context_settings=COMMAND_AFTER_IMAGE)
@create_options
@click.pass_context
def create(ctx: click.Context, /, **options: Any) -> None:
    """Create a new container."""
    with daemon_errors(ctx, engine_code=ENGINE_ERROR):
        click.echo(create_container(connect(ctx), options, attach=False))


@click.command(cls=DockerFlags, context_settings=COMMAND_AFTER_IMAGE)
@click.option("-d", "--detach", is_flag=True, help="Run container in background.")
@click.option("--detach-keys", default="", help="Override the key sequence for detaching.")
@create_options
@click.pass_context
def run(ctx: click.Context, /, detach: bool, **options: Any) -> None:
    """Create and run a new container from an image."""
    with daemon_errors(ctx, engine_code=ENGINE_ERROR):
        ctx.exit(run_container(connect(ctx), options, detach))


COMMANDS = [create, run]
