"""The options of `berth create` and `berth run`, and the create request they make
(made by cli/create_body.py; the flow that sends it is cli/run_flow.py).

As docker's: an option berth does not know, or a value its parse refuses, before the
image is an error naming it, exit 125 (`unknown flag: --foo`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import click

from berth.domain.errors import InvalidParameter
from berth.domain.exit_codes import ENGINE_ERROR
from berth.domain.mount_flags import parse_mount

from .create_checks import check_options

#: docker's flag of run, create and pull (content_trust.py).
disable_content_trust = click.option(
    "--disable-content-trust",
    "disable_content_trust",
    is_flag=True,
    help="Skip the client's image verification (the default unless DOCKER_CONTENT_TRUST=1).",
)

# As docker's CLI, the image ends berth's options: all after it is the container's command
# (`ls -l` included, and a `--`, which before the image still ends the options).
COMMAND_AFTER_IMAGE = {"allow_interspersed_args": False}


class _FlagError(click.UsageError):
    exit_code = ENGINE_ERROR


class DockerFlags(click.Command):
    """A flag error is docker's: exit 125, and an unknown flag is named as docker names it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as unknown:
            name = unknown.option_name
            message = (
                f"unknown flag: {name}"
                if name.startswith("--")
                else f"unknown shorthand flag: '{name[1:]}' in {name}"
            )
            raise _FlagError(message, ctx) from None
        except click.UsageError as refused:
            raise _FlagError(refused.format_message(), ctx) from None


def _mounts(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> list[Any]:
    """`--mount` is parsed as a flag, as docker's is, so its errors are flag errors."""
    mounts = []
    for value in values:
        try:
            mounts.append(parse_mount(value, os.getcwd()))
        except InvalidParameter as refused:
            raise click.UsageError(
                f'invalid argument "{value}" for "--mount" flag: {refused.message}', ctx
            ) from None
    return mounts


def create_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", default=None, help="Assign a name to the container."),
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("-e", "--env", multiple=True, help="Set environment variables."),
        click.option("--env-file", multiple=True, type=click.Path(exists=True, dir_okay=False)),
        click.option("-l", "--label", multiple=True, help="Set metadata on a container."),
        click.option("-w", "--workdir", default="", help="Working directory inside the container."),
        click.option(
            "-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])."
        ),
        click.option("-h", "--hostname", default="", help="Container host name."),
        click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT."),
        click.option("--restart", default="no", help="Restart policy."),
        click.option("-m", "--memory", default=None, help="Memory limit."),
        click.option("--memory-swap", default=None, help="Memory plus swap; -1 for unlimited."),
        click.option("--cpus", default=None, type=float, help="Number of CPUs."),
        click.option("--cpu-shares", default=0, type=int, help="CPU shares (relative weight)."),
        click.option("--pids-limit", default=None, type=int, help="Tune container pids limit."),
        click.option("--cap-add", multiple=True, help="Add Linux capabilities."),
        click.option("--cap-drop", multiple=True, help="Drop Linux capabilities."),
        click.option("--privileged", is_flag=True, help="Give extended privileges."),
        click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("-v", "--volume", multiple=True, help="Bind mount a volume."),
        click.option(
            "--mount",
            multiple=True,
            callback=_mounts,
            help="Attach a filesystem mount to the container.",
        ),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs directory."),
        click.option(
            "--volumes-from", multiple=True, help="Mount volumes from the specified container(s)."
        ),
        click.option("--network", default="", help="Connect a container to a network."),
        click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)."),
        click.option("--network-alias", multiple=True, help="Add network-scoped alias."),
        click.option("--mac-address", default="", help="Container MAC address."),
        click.option(
            "-p", "--publish", multiple=True, help="Publish a container's port(s) to the host."
        ),
        click.option(
            "-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports."
        ),
        click.option("--cidfile", default=None, help="Write the container ID to the file."),
        click.option(
            "--pull",
            "pull_policy",
            default="missing",
            type=click.Choice(["always", "missing", "never"]),
            help="Pull image before running.",
        ),
        disable_content_trust,
        click.option("--stop-signal", default="", help="Signal to stop the container."),
        click.option(
            "--stop-timeout", default=None, type=int, help="Timeout (in seconds) to stop."
        ),
        click.option(
            "--rm", "auto_remove", is_flag=True, help="Remove the container when it exits."
        ),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        command = option(command)
    return check_options(command)
