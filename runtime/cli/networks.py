"""`berth network create|ls|inspect|connect|disconnect|rm|prune`: docker's network commands
and their output, each one body, a client of the engine's `/networks` (cli/session.py)."""

from __future__ import annotations

from typing import Any

import click

from ..views.filters import parse_cli_filters
from .client.http import segment
from .client.render import table
from .session import Access, connect, daemon_errors, each_ref
from .volumes import echo_section, inspect_each, key_values, pruned

PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue?"
)


@click.group()
def network() -> None:
    """Manage networks."""


@network.command()
@click.option("-d", "--driver", default="bridge", show_default=True, help="Network driver.")
@click.option("--subnet", default="", help="Subnet in CIDR format.")
@click.option("--gateway", default="", help="IPv4 gateway for the subnet.")
@click.option("--ip-range", default="", help="Allocate container addresses from a sub-range.")
@click.option("--aux-address", "aux", multiple=True, help="Reserved addresses (NAME=IP).")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment.")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking (refused: IPv4 only).")
@click.option("--label", "labels", multiple=True, help="Metadata (KEY=VALUE).")
@click.option("-o", "--opt", "opts", multiple=True, help="Driver options (KEY=VALUE).")
@click.argument("name")
@click.pass_context
def create(
    ctx: click.Context,
    driver: str,
    subnet: str,
    gateway: str,
    ip_range: str,
    aux: tuple[str, ...],
    internal: bool,
    attachable: bool,
    ipv6: bool,
    labels: tuple[str, ...],
    opts: tuple[str, ...],
    name: str,
) -> None:
    """Create a network."""
    config = {
        key: value
        for key, value in (("Subnet", subnet), ("Gateway", gateway), ("IPRange", ip_range))
        if value
    }
    if aux:
        config["AuxiliaryAddresses"] = key_values(aux, "aux-address")  # type: ignore[assignment]
    body: dict[str, Any] = {
        "Name": name,
        "CheckDuplicate": True,
        "Driver": driver,
        "Internal": internal,
        "Attachable": attachable,
        "EnableIPv6": ipv6,
        "IPAM": {"Driver": "default", "Config": [config] if config else [], "Options": {}},
        "Labels": key_values(labels, "label"),
        "Options": key_values(opts, "option"),
    }
    with daemon_errors(ctx):
        made = connect(ctx).call("POST", "/networks/create", body=body)
    click.echo(made["Id"])


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.pass_context
def list_networks(
    ctx: click.Context, quiet: bool, no_trunc: bool, filters: tuple[str, ...]
) -> None:
    """List networks."""
    with daemon_errors(ctx):
        query = {"filters": parse_cli_filters(filters) or None}
        found = connect(ctx, Access.READ).call("GET", "/networks", query) or []
    found.sort(key=lambda n: n["Name"])
    ids = [n["Id"] if no_trunc else n["Id"][:12] for n in found]
    if quiet:
        for shown in ids:
            click.echo(shown)
        return
    rows = [[i, n["Name"], n["Driver"], n["Scope"]] for i, n in zip(ids, found, strict=True)]
    click.echo(table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], rows))


@network.command()
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    inspect_each(ctx, refs, "networks", "network")


@network.command("connect")
@click.option("--alias", "aliases", multiple=True, help="Network-scoped alias.")
@click.option("--ip", default="", help="IPv4 address.")
@click.option("--ip6", default="", help="IPv6 address (refused: IPv4 only).")
@click.argument("network_ref")
@click.argument("container")
@click.pass_context
def connect_container(
    ctx: click.Context,
    aliases: tuple[str, ...],
    ip: str,
    ip6: str,
    network_ref: str,
    container: str,
) -> None:
    """Connect a container to a network."""
    ipam = {k: v for k, v in (("IPv4Address", ip), ("IPv6Address", ip6)) if v}
    body = {
        "Container": container,
        "EndpointConfig": {"Aliases": list(aliases) or None, "IPAMConfig": ipam or None},
    }
    with daemon_errors(ctx):
        connect(ctx).call("POST", f"/networks/{segment(network_ref)}/connect", body=body)


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect.")
@click.argument("network_ref")
@click.argument("container")
@click.pass_context
def disconnect_container(ctx: click.Context, force: bool, network_ref: str, container: str) -> None:
    """Disconnect a container from a network."""
    body = {"Container": container, "Force": force}
    with daemon_errors(ctx):
        connect(ctx).call("POST", f"/networks/{segment(network_ref)}/disconnect", body=body)


@network.command()
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    with daemon_errors(ctx):
        client = connect(ctx)
        each_ref(refs, lambda ref: client.call("DELETE", f"/networks/{segment(ref)}"))


@network.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (label=...).")
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused networks."""
    report = pruned(ctx, force, filters, PRUNE_WARNING, "/networks/prune")
    if report is not None:
        echo_section("Deleted Networks:", report.get("NetworksDeleted"))


COMMANDS = [network]
