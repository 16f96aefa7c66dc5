"""`berth create|run|start|stop|kill|pause|unpause|restart|rm|wait|logs`.

With -H or BERTH_HOST each command is a request to berthd (runtime/client/remote.py).
Without them it runs the engine in its own process: it first reconciles (recording exits
that happened while no berth process was running), does its work, and leaves the
containers running under their monitors. Both modes share the options and the create
body built here. The engine's modules are imported inside the local paths only.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from berth.domain.errors import InvalidParameter, NotFound

if TYPE_CHECKING:
    from berth.adapters.logs import LogLine

    from .engine import Created
    from .runner import Runner

T = TypeVar("T")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def ram_in_bytes(text: str) -> int:
    """Docker's RAMInBytes: "64m", "1g", "512k", plain bytes."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", text.strip().lower())
    if not found:
        raise InvalidParameter(f"invalid size: '{text}'")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def run_with_runner(ctx: click.Context, job: Callable[[Runner], Awaitable[T]]) -> T:
    """Run `job` with a reconciled runner for the CLI's root, under trio."""
    import trio

    from berth.adapters.registry import RegistryClient
    from berth.adapters.runc import Runtime

    from .cli import open_engine
    from .images import ImageService
    from .runner import Runner, running

    async def main() -> T:
        with open_engine(ctx) as engine:
            images = ImageService(engine)
            insecure = [h for h in os.environ.get("BERTH_INSECURE_REGISTRIES", "").split(",") if h]
            async with RegistryClient(images.content, insecure=insecure) as registry:
                images.registry = registry
                runtime = Runtime(engine.root / "run")
                if engine.store.read_only is not None:  # no reconcile: it would record
                    return await job(Runner(engine, images, runtime))
                async with running(engine, images, runtime) as runner:
                    return await job(runner)
        ctx.exit(0)  # a 304 answer (already started, already stopped): nothing to do

    return trio.run(main)


def create_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", default=None, help="Assign a name to the container."),
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
        click.option("--network", default="", help="Connect a container to a network."),
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
    return command


def create_body(options: dict[str, Any]) -> dict[str, Any]:
    env = list(options["env"])
    for env_file in options["env_file"]:
        for line in Path(env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                env.append(line.strip())
    policy, _, retries = options["restart"].partition(":")
    memory = ram_in_bytes(options["memory"]) if options["memory"] else 0
    swap_text = options["memory_swap"]
    swap = -1 if swap_text == "-1" else (ram_in_bytes(swap_text) if swap_text else 0)
    from berth.domain.ports import parse_publish_all  # not on every command's import path

    exposed, bindings = parse_publish_all(options.get("publish") or ())
    return {
        "Image": options["image"],
        "ExposedPorts": {key: {} for key in exposed} or None,
        "Cmd": list(options["command"]) or None,
        "Env": env or None,
        "Labels": dict(item.partition("=")[::2] for item in options["label"]),
        "WorkingDir": options["workdir"],
        "User": options["user"],
        "Hostname": options["hostname"],
        "Entrypoint": [options["entrypoint"]] if options["entrypoint"] else None,
        "StopSignal": options["stop_signal"],
        "StopTimeout": options["stop_timeout"],
        "HostConfig": {
            "RestartPolicy": {"Name": policy, "MaximumRetryCount": int(retries or 0)},
            "NetworkMode": options["network"],
            "PortBindings": bindings or None,
            "PublishAllPorts": bool(options.get("publish_all")),
            "AutoRemove": options["auto_remove"],
            "Memory": memory,
            "MemorySwap": swap,
            "NanoCpus": int((options["cpus"] or 0) * 1e9),
            "CpuShares": options["cpu_shares"],
            "PidsLimit": options["pids_limit"],
            "CapAdd": list(options["cap_add"]) or None,
            "CapDrop": list(options["cap_drop"]) or None,
            "Privileged": options["privileged"],
            "ReadonlyRootfs": options["read_only"],
        },
    }


def check_cidfile(cidfile: str | None) -> None:
    """docker's --cidfile refuses a file that exists: another container may own it."""
    if cidfile and os.path.exists(cidfile):
        raise InvalidParameter(
            "Container ID file found, make sure the other container isn't running "
            f"or delete {cidfile}"
        )


async def create_with_pull(runner: Runner, options: dict[str, Any], actor: Any) -> Created:
    """The seed's client flow: create; on "No such image", pull (with progress), create."""
    from .cli_images import PullDisplay

    cidfile = options["cidfile"]
    check_cidfile(cidfile)
    body = create_body(options)
    if options["pull_policy"] == "always":
        await _pull(runner, options["image"], actor, PullDisplay(as_json=False, to_stderr=True))
    try:
        created = await runner.create(body, options["name"], actor)
    except NotFound as missing:
        if options["pull_policy"] == "never" or "No such image" not in missing.message:
            raise
        click.echo(f"Unable to find image '{options['image']}' locally", err=True)
        await _pull(runner, options["image"], actor, PullDisplay(as_json=False, to_stderr=True))
        created = await runner.create(body, options["name"], actor)
    if cidfile:
        with open(cidfile, "x") as handle:
            handle.write(created.id)
    return created


async def _pull(runner: Runner, image: str, actor: Any, display: Any) -> None:
    with display.bars:
        await runner.images.pull(image, actor, display)


def _write_line(line: LogLine, timestamps: bool) -> None:
    stream = sys.stdout.buffer if line.stream == "stdout" else sys.stderr.buffer
    prefix = (line.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + " ").encode() if timestamps else b""
    stream.write(prefix + line.text + (b"" if line.partial else b"\n"))
    stream.flush()


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def register(main: click.Group) -> None:
    from .cli import cli_actor, console, remote_client

    @main.command(context_settings={"ignore_unknown_options": True})
    @create_options
    @click.pass_context
    def create(ctx: click.Context, /, **options: Any) -> None:
        """Create a new container."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx, engine_code=125):
                click.echo(remote.create(client, options, attach=False))
            return

        async def job(runner: Runner) -> str:
            created = await create_with_pull(runner, options, cli_actor())
            for warning in created.warnings:
                console.print(f"WARNING: {warning}", style="yellow")
            return created.id

        click.echo(run_with_runner(ctx, job))

    @main.command(context_settings={"ignore_unknown_options": True})
    @click.option("-d", "--detach", is_flag=True, help="Run container in background.")
    @create_options
    @click.pass_context
    def run(ctx: click.Context, /, detach: bool, **options: Any) -> None:
        """Create and run a new container from an image."""
        ctx.meta["berth.run"] = True
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx, engine_code=125):
                ctx.exit(remote.run(client, options, detach))
            return
        from berth.adapters.logs import follow_log

        async def job(runner: Runner) -> int:
            created = await create_with_pull(runner, options, cli_actor())
            await runner.start(created.id, cli_actor())
            if detach:
                click.echo(created.id)
                return 0
            log_path = runner.log_path(created.id)
            async for line in follow_log(
                log_path, until_exit=lambda: runner.runtime.monitor_pid(created.id) is None
            ):
                _write_line(line, False)
            code = await runner.wait(
                created.id, "removed" if options["auto_remove"] else "not-running"
            )
            return code

        ctx.exit(run_with_runner(ctx, job))

    def each(verb: str, act: Callable[[Runner, str], Awaitable[None]]) -> Callable[..., None]:
        @click.argument("refs", nargs=-1, required=True)
        @click.pass_context
        def command(ctx: click.Context, /, refs: tuple[str, ...], **_: Any) -> None:
            client = remote_client(ctx)
            if client is not None:
                from .client import remote

                with remote.daemon_errors(ctx):
                    remote.act(client, verb, refs)
                return

            async def job(runner: Runner) -> None:
                for ref in refs:
                    await act(runner, ref)
                    click.echo(ref)

            run_with_runner(ctx, job)

        command.__doc__ = f"{verb.capitalize()} one or more containers."
        return command

    main.command("start")(each("start", lambda r, ref: r.start(ref, cli_actor())))
    main.command("pause")(each("pause", lambda r, ref: r.pause(ref, cli_actor())))
    main.command("unpause")(each("unpause", lambda r, ref: r.unpause(ref, cli_actor())))

    @main.command()
    @click.option(
        "-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing."
    )
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_context
    def stop(ctx: click.Context, timeout: int | None, refs: tuple[str, ...]) -> None:
        """Stop one or more running containers."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.act(client, "stop", refs, t=timeout)
            return

        async def job(runner: Runner) -> None:
            for ref in refs:
                await runner.stop(ref, cli_actor(), timeout)
                click.echo(ref)

        run_with_runner(ctx, job)

    @main.command()
    @click.option("-t", "--time", "timeout", type=int, default=10)
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_context
    def restart(ctx: click.Context, timeout: int, refs: tuple[str, ...]) -> None:
        """Restart one or more containers."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.act(client, "restart", refs, t=timeout)
            return

        async def job(runner: Runner) -> None:
            for ref in refs:
                await runner.restart(ref, cli_actor(), timeout)
                click.echo(ref)

        run_with_runner(ctx, job)

    @main.command()
    @click.option("-s", "--signal", default="SIGKILL", help="Signal to send to the container.")
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_context
    def kill(ctx: click.Context, signal: str, refs: tuple[str, ...]) -> None:
        """Kill one or more running containers."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.act(client, "kill", refs, signal=signal)
            return

        async def job(runner: Runner) -> None:
            for ref in refs:
                await runner.kill(ref, cli_actor(), signal)
                click.echo(ref)

        run_with_runner(ctx, job)

    @main.command()
    @click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_context
    def rm(ctx: click.Context, force: bool, refs: tuple[str, ...]) -> None:
        """Remove one or more containers."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.rm(client, refs, force)
            return

        async def job(runner: Runner) -> None:
            for ref in refs:
                await runner.remove(ref, cli_actor(), force)
                click.echo(ref)

        run_with_runner(ctx, job)

    @main.command()
    @click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
    @click.pass_context
    def prune(ctx: click.Context, force: bool) -> None:
        """Remove all stopped containers."""
        if not force:
            click.confirm("This will remove all stopped containers. Continue?", abort=True)

        async def job(runner: Runner) -> list[str]:
            return await runner.prune(cli_actor())

        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            removed: list[str] = []
            with remote.daemon_errors(ctx):
                removed = remote.prune(client)
        else:
            removed = run_with_runner(ctx, job)
        if removed:
            click.echo("Deleted Containers:")
            for container_id in removed:
                click.echo(container_id)

    @main.command()
    @click.option(
        "--condition",
        default="not-running",
        type=click.Choice(["not-running", "next-exit", "removed"]),
    )
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_context
    def wait(ctx: click.Context, condition: str, refs: tuple[str, ...]) -> None:
        """Block until containers stop, then print their exit codes."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.wait(client, refs, condition)
            return

        async def job(runner: Runner) -> None:
            for ref in refs:
                click.echo(await runner.wait(ref, condition))

        run_with_runner(ctx, job)

    @main.command()
    @click.option("-f", "--follow", is_flag=True, help="Follow log output.")
    @click.option("--since", default=None, help="Show logs since a timestamp (RFC 3339 or unix).")
    @click.option("--until", default=None, help="Show logs before a timestamp.")
    @click.option("-n", "--tail", default="all", help="Number of lines from the end.")
    @click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
    @click.argument("ref")
    @click.pass_context
    def logs(
        ctx: click.Context,
        follow: bool,
        since: str | None,
        until: str | None,
        tail: str,
        timestamps: bool,
        ref: str,
    ) -> None:
        """Fetch the logs of a container."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            options = {"follow": follow, "timestamps": timestamps, "since": since}
            with remote.daemon_errors(ctx):
                remote.logs(client, ref, {**options, "until": until, "tail": tail})
            return
        from berth.adapters.logs import follow_log, read_log

        async def job(runner: Runner) -> None:
            container_id = runner.engine.resolve_container(ref)
            path = runner.log_path(container_id)
            bounds: dict[str, Any] = {
                "since": _time(since),
                "until": _time(until),
                "tail": None if tail == "all" else int(tail),
            }
            if follow:
                async for line in follow_log(
                    path,
                    until_exit=lambda: runner.runtime.monitor_pid(container_id) is None,
                    **bounds,
                ):
                    _write_line(line, timestamps)
            else:
                for line in read_log(path, **bounds):
                    _write_line(line, timestamps)

        run_with_runner(ctx, job)
