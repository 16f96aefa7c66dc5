"""`berth push|save|login|logout`: an image to a registry or an archive, and the
credentials for registries, each a client of the engine's API."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import click

from berth.domain.registry_auth import DOCKER_HUB_ADDRESS

from . import credentials
from .client.http import segment
from .files import refuse_terminal, write_output
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
        headers = {"X-Registry-Auth": credentials.auth_header(name)}
        query = {"tag": tag or None}
        response = connect(ctx).request(
            "POST", f"/images/{segment(name)}/push", query, headers=headers
        )
        for message in messages(response.lines()):
            show(message)


@click.command()
@click.option("-o", "--output", default=None, help="Write to a file, instead of STDOUT.")
@click.argument("images", nargs=-1, required=True)
@click.pass_context
def save(ctx: click.Context, output: str | None, images: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (docker-archive format)."""
    refuse_terminal(output)
    with daemon_errors(ctx):
        response = connect(ctx).request("GET", "/images/get", {"names": list(images)})
        write_output(response, output)


@click.command()
@click.option("-u", "--username", default="", help="Username.")
@click.option("-p", "--password", default="", help="Password.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False, default=DOCKER_HUB_ADDRESS)
@click.pass_context
def login(
    ctx: click.Context, username: str, password: str, password_stdin: bool, server: str
) -> None:
    """Log in to a registry: the engine checks the credentials, docker's config.json keeps
    them (mode 0600)."""
    if password_stdin:
        if password:
            raise click.UsageError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    body = {"username": username, "password": password, "serveraddress": server}
    with daemon_errors(ctx):
        answer = connect(ctx).call("POST", "/auth", body=body)
    credentials.store(server, username, password)
    click.echo(str(answer.get("Status", "Login Succeeded")))


@click.command()
@click.argument("server", required=False, default=DOCKER_HUB_ADDRESS)
def logout(server: str) -> None:
    """Log out from a registry: its credentials leave docker's config.json."""
    key = credentials.server_key(server)
    if not credentials.forget(server):
        click.echo(f"Not logged in to {key}")
        return
    click.echo(f"Removing login credentials for {key}")


@click.command()
@click.option(
    "--key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Private key: cosign's encrypted key file (passphrase: COSIGN_PASSWORD) or PKCS#8 PEM.",
)
@click.argument("image")
@click.pass_context
def sign(ctx: click.Context, key: Path, image: str) -> None:
    """Sign an image in its registry (cosign's format, stored beside the image)."""
    from berth.domain.trust_policy import simple_signing_payload

    from .signing_keys import is_encrypted, load_private_key, sign_payload

    pem = key.read_bytes()
    passphrase = os.environ.get("COSIGN_PASSWORD")
    if passphrase is None:
        passphrase = click.prompt("Passphrase", hide_input=True) if is_encrypted(pem) else ""
    private = load_private_key(pem, passphrase)
    path = f"/berth/images/{segment(image)}/sign"
    with daemon_errors(ctx):
        client = connect(ctx)
        headers = {"X-Registry-Auth": credentials.auth_header(image)}
        target = client.call("GET", path, headers=headers)
        payload = simple_signing_payload(target["Repository"], target["Digest"])
        body = {
            "Payload": base64.b64encode(payload).decode(),
            "Signature": base64.b64encode(sign_payload(private, payload)).decode(),
        }
        client.call("POST", path, headers=headers, body=body)
    click.echo(f"Pushing signature to: {target['Repository']}@{target['Digest']}")


COMMANDS = [push, save, login, logout, sign]
