"""`berth create|run|start|stop|kill|pause|unpause|restart|rm|wait|logs`.

With -H or BERTH_HOST each command is a request to berthd (runtime/cli/client/remote.py).
Without them it runs the engine in its own process: it first reconciles (recording exits
that happened while no berth process was running), does its work, and leaves the
containers running under their monitors. Both modes share the options and the create
body of runtime/cli/create.py. The engine's modules are imported inside the local paths only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from berth.domain.container.exit_codes import ENGINE_ERROR
from berth.domain.errors import NotFound
from berth.domain.signals import DEFAULT_KILL_SIGNAL

from .create import COMMAND_AFTER_IMAGE, check_cidfile, create_body, create_options
from .times import user_time

if TYPE_CHECKING:
    from berth.adapters.logs import LogLine

    from ..service.engine import Created
    from ..service.runner import Runner

T = TypeVar("T")


def run_with_runner(
    ctx: click.Context, job: Callable[[Runner], Awaitable[T]], *, wait: bool = True
) -> T:
    """Run `job` with a reconciled runner for the CLI's root, under trio, holding the
    root's lock (adapters.rootlock): no other engine acts on the root meanwhile. Without
    `wait`, a root held by another berth command raises RootLocked at once."""
    import trio

    from berth.adapters.registry import RegistryClient
    from berth.adapters.rootlock import RootLock
    from berth.adapters.runc import Runtime

    from ..service.images import ImageService
    from ..service.runner import Runner, running
    from .main import hold_root, open_engine

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

    with RootLock(ctx.obj["root"]) as lock:
        hold_root(ctx, lock, wait=wait)
        return trio.run(main)


async def create_with_pull(runner: Runner, options: dict[str, Any], actor: Any) -> Created:
    """The seed's client flow: create; on "No such image", pull (with progress), create."""
    from .images import PullDisplay

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


def _write_lines(lines: list[LogLine], timestamps: bool) -> None:
    for line in lines:
        stream = sys.stdout.buffer if line.stream == "stdout" else sys.stderr.buffer
        stamp = line.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + " " if timestamps else ""
        stream.write(stamp.encode() + line.text + (b"" if line.partial else b"\n"))
    sys.stdout.buffer.flush()
    sys.stderr.buffer.flush()


def _time(text: str | None) -> datetime | None:
    return user_time(text) if text else None


def register(main: click.Group) -> None:
    from .main import cli_actor, console, remote_client

    @main.command(context_settings=COMMAND_AFTER_IMAGE)
    @create_options
    @click.pass_context
    def create(ctx: click.Context, /, **options: Any) -> None:
        """Create a new container."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx, engine_code=ENGINE_ERROR):
                click.echo(remote.create(client, options, attach=False))
            return

        async def job(runner: Runner) -> str:
            created = await create_with_pull(runner, options, cli_actor())
            for warning in created.warnings:
                console.print(f"WARNING: {warning}", style="yellow")
            return created.id

        click.echo(run_with_runner(ctx, job))

    @main.command(context_settings=COMMAND_AFTER_IMAGE)
    @click.option("-d", "--detach", is_flag=True, help="Run container in background.")
    @create_options
    @click.pass_context
    def run(ctx: click.Context, /, detach: bool, **options: Any) -> None:
        """Create and run a new container from an image."""
        ctx.meta["berth.run"] = True
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx, engine_code=ENGINE_ERROR):
                ctx.exit(remote.run(client, options, detach))
            return
        from berth.adapters.logs import Selection, log_batches

        async def job(runner: Runner) -> int:
            import trio

            created = await create_with_pull(runner, options, cli_actor())
            if detach:
                await runner.start(created.id, cli_actor())
                click.echo(created.id)
                return 0
            ended = False

            async def output() -> None:
                # Following from before the start, as docker attaches before it starts:
                # an `--rm` container may be gone, log and all, by the time start returns.
                log = runner.log_path(created.id)
                async for batch in log_batches(log, Selection(), until_exit=lambda: ended):
                    _write_lines(batch, False)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(output)
                await runner.start(created.id, cli_actor())
                code = await runner.wait_for(
                    created.id, "removed" if options["auto_remove"] else "not-running"
                )
                ended = True
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
    @click.option(
        "-s", "--signal", default=DEFAULT_KILL_SIGNAL, help="Signal to send to the container."
    )
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
        from berth.adapters.logs import Selection, log_batches

        async def job(runner: Runner) -> None:
            container_id = runner.engine.resolve_container(ref)
            monitor = runner.runtime.monitor_pid
            async for batch in log_batches(
                runner.log_path(container_id),
                Selection(since=_time(since), until=_time(until)),
                tail=None if tail == "all" else int(tail),
                until_exit=(lambda: monitor(container_id) is None) if follow else None,
            ):
                _write_lines(batch, timestamps)

        run_with_runner(ctx, job)
