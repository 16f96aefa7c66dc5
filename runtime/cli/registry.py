"""`berth push|save|login|logout`: an image to a registry or an archive, and the
credentials for registries, each a client of the engine's API."""

from __future__ import annotations

from typing import Any

import click

from .client.http import segment
from .credentials import auth_header
from .images import PullDisplay, messages, split_reference
from .session import connect, daemon_errors


@click.command()
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of the repository.")
@click.option("--json", "as_json", is_flag=True, help="Print Docker's JSON progress stream.")
@click.argument("reference")
@click.pass_context
def push(ctx: click.Context, all_tags: bool, as_json: bool, reference: str) -> None:
    """Upload an image to a registry."""
    name, tag = split_reference(reference)
    if all_tags:
        name, tag = reference, ""
    display = PullDisplay(as_json)

    def show(message: dict[str, Any]) -> None:
        if as_json or "status" in message:  # the last one, `aux`, is for programs
            display(message)

    with daemon_errors(ctx), display.drawn():
        headers = {"X-Registry-Auth": auth_header(name)}
        query = {"tag": tag or None}
        response = connect(ctx).request(
            "POST", f"/images/{segment(name)}/push", query, headers=headers
        )
        for message in messages(response.lines()):
            show(message)


COMMANDS = [push]
