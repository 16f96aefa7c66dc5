"""`berth top|stats`: what a container's processes are doing (routes_observe.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from berth.domain.mount_flags import ram_in_bytes

from .client.http import segment
from .client.render import table
from .client.stats_render import HEADERS, stats_row
from .create_body import memory_swap, restart_policy
from .session import connect, daemon_errors, each_ref


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("ref")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def top(ctx: click.Context, ref: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container (`ps` options after its name)."""
    with daemon_errors(ctx):
        query = {"ps_args": " ".join(ps_args) or None}
        listed = connect(ctx).call("GET", f"/containers/{segment(ref)}/top", query)
        click.echo(table(listed["Titles"], listed["Processes"] or []))


@click.command()
@click.option("--no-stream", is_flag=True, help="Print one reading and exit.")
@click.option("--format", "output", default="", help="'json' for the API's JSON, a line each.")
@click.argument("ref")
@click.pass_context
def stats(ctx: click.Context, no_stream: bool, output: str, ref: str) -> None:
    """Display a container's resource usage (CPU, memory, network, block I/O, pids)."""
    with daemon_errors(ctx):
        path = f"/containers/{segment(ref)}/stats"
        response = connect(ctx).request("GET", path, {"stream": 0 if no_stream else 1})
        for line in response.lines():
            doc = json.loads(line)
            if output == "json":
                click.echo(json.dumps(doc))
            else:
                click.echo(table(HEADERS, [stats_row(doc)]))


def _bytes(text: str | None) -> int:
    return ram_in_bytes(text) if text else 0


@click.command()
@click.option("--blkio-weight", type=int, default=0, help="Block IO weight (10 to 1000).")
@click.option("--cpu-period", type=int, default=0, help="CPU CFS period.")
@click.option("--cpu-quota", type=int, default=0, help="CPU CFS quota.")
@click.option("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight).")
@click.option("--cpus", type=float, default=0.0, help="Number of CPUs.")
@click.option("--cpuset-cpus", default="", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--cpuset-mems", default="", help="MEMs in which to allow execution (0-3, 0,1).")
@click.option("-m", "--memory", default=None, help="Memory limit.")
@click.option("--memory-reservation", default=None, help="Memory soft limit.")
@click.option("--memory-swap", default=None, help="Memory plus swap; -1 for unlimited.")
@click.option("--pids-limit", type=int, default=None, help="Tune the pids limit (-1: none).")
@click.option("--restart", default="", help="Restart policy to apply when a container exits.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def update(ctx: click.Context, /, refs: tuple[str, ...], **options: Any) -> None:
    """Update the resources and restart policy of containers."""
    body = {
        "BlkioWeight": options["blkio_weight"],
        "CpuPeriod": options["cpu_period"],
        "CpuQuota": options["cpu_quota"],
        "CpuShares": options["cpu_shares"],
        "NanoCpus": int(options["cpus"] * 1e9),
        "CpusetCpus": options["cpuset_cpus"],
        "CpusetMems": options["cpuset_mems"],
        "Memory": _bytes(options["memory"]),
        "MemoryReservation": _bytes(options["memory_reservation"]),
        "MemorySwap": memory_swap(options["memory_swap"]),
        "PidsLimit": options["pids_limit"],
        "RestartPolicy": restart_policy(options["restart"]) if options["restart"] else {},
    }
    with daemon_errors(ctx):
        client = connect(ctx)

        def update_one(ref: str) -> None:
            answer = client.call("POST", f"/containers/{segment(ref)}/update", body=body)
            for warning in answer.get("Warnings") or ():
                click.echo(f"WARNING: {warning}", err=True)

        each_ref(refs, update_one)


COMMANDS = [top, stats, update]
