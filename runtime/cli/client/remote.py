"""The commands of `berth -H URL` (or BERTH_HOST): each one Docker Engine API requests to berthd.

Option parsing and the create body are the local mode's (cli_create.create_options,
create_body); only the transport differs. Errors print as the docker CLI prints them:
"Error response from daemon: MESSAGE", exit 1 (125 for run/create; 126/127 when `run`
could not start the command).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from berth.domain.container.exit_codes import ENGINE_ERROR, run_failure_code
from berth.domain.errors import BerthError

from .frames import copy_frames
from .http import DaemonClient, DaemonError, DaemonUnreachable, segment
from .render import image_table, ps_output

NO_AUTH = {"X-Registry-Auth": "e30="}  # base64 of "{}", as the docker CLI sends


class ExitWith(Exception):
    """An error already reported, with the exit code the command must end with."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def report(error: DaemonError) -> None:
    click.echo(f"Error response from daemon: {error.message}", err=True)


@contextmanager
def daemon_errors(ctx: click.Context, engine_code: int = 1) -> Iterator[None]:
    """Print a daemon's error as docker does and exit: 1, or `engine_code` (run's 125)."""
    try:
        yield
    except DaemonUnreachable as error:
        click.echo(str(error), err=True)
        ctx.exit(engine_code)
    except DaemonError as error:
        if error.status == 304:  # already started, already stopped: nothing to do
            return
        report(error)
        ctx.exit(engine_code)
    except ExitWith as done:
        ctx.exit(done.code)
    except KeyboardInterrupt:  # Ctrl-C on a follow (events, logs -f): no traceback
        ctx.exit(130)
    except BerthError as refused:  # the client's own checks (--cidfile, -m, ...)
        click.echo(f"Error: {refused.message}", err=True)
        ctx.exit(engine_code)


def each_ref(refs: tuple[str, ...], act: Callable[[str], object], echo: bool = True) -> None:
    """Act on every ref as docker does: report each failure, go on, exit 1 if any failed."""
    failed = False
    for ref in refs:
        try:
            act(ref)
        except DaemonError as error:
            if error.status != 304:
                report(error)
                failed = True
                continue
        if echo:
            click.echo(ref)
    if failed:
        raise ExitWith(1)


# Images --------------------------------------------------------------------------------------


def split_reference(reference: str) -> tuple[str, str]:
    """`fromImage` and `tag` as the docker CLI sends them (`tag` may be a digest)."""
    name, at, digest = reference.partition("@")
    if at:
        return name, digest
    repository, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        return repository, tag
    return name, "latest"


def pull(client: DaemonClient, reference: str, show: Callable[[dict[str, Any]], None]) -> None:
    """`POST /images/create?fromImage=`: the progress stream, each message to `show`."""
    image, tag = split_reference(reference)
    response = client.request(
        "POST", "/images/create", {"fromImage": image, "tag": tag}, headers=NO_AUTH
    )
    for line in response.lines():
        message = json.loads(line)
        if message.get("error"):
            raise DaemonError(500, str(message["error"]))
        show(message)


def canonical(reference: str) -> str:
    """The full reference the docker CLI prints after a pull (docker.io/library/...)."""
    from berth.domain.reference import parse_reference

    return str(parse_reference(reference))


def images(client: DaemonClient, quiet: bool) -> None:
    entries = client.call("GET", "/images/json")
    click.echo(image_table(entries, quiet))


def rmi(client: DaemonClient, refs: tuple[str, ...], force: bool) -> None:
    def remove(ref: str) -> None:
        for entry in client.call("DELETE", f"/images/{segment(ref)}", {"force": force or None}):
            for key, value in entry.items():
                click.echo(f"{key}: {value}")

    each_ref(refs, remove, echo=False)


def load(client: DaemonClient, archive: Path) -> None:
    with archive.open("rb") as data:
        response = client.request(
            "POST", "/images/load", headers={"Content-Type": "application/x-tar"}, data=data
        )
    for line in response.lines():
        message = json.loads(line)
        if message.get("error"):
            raise DaemonError(500, str(message["error"]))
        click.echo(str(message.get("stream", "")).rstrip("\n"))


def import_rootfs(client: DaemonClient, tarball: Path, reference: str | None, message: str) -> None:
    query: dict[str, Any] = {"fromSrc": "-", "message": message or None}
    if reference:
        query["repo"], query["tag"] = split_reference(reference)
    with tarball.open("rb") as data:
        response = client.request(
            "POST",
            "/images/create",
            query,
            headers={"Content-Type": "application/x-tar"},
            data=data,
        )
    for line in response.lines():
        answer = json.loads(line)
        if answer.get("error"):
            raise DaemonError(500, str(answer["error"]))
        click.echo(answer.get("status", ""))


def tag(client: DaemonClient, source: str, target: str) -> None:
    repo, name = split_reference(target)
    client.request("POST", f"/images/{segment(source)}/tag", {"repo": repo, "tag": name}).read()


# Containers ----------------------------------------------------------------------------------


def create(client: DaemonClient, options: dict[str, Any], attach: bool) -> str:
    """The seed's client flow: create; on "No such image", pull with progress, create again."""
    from ..create import check_cidfile, create_body
    from ..images import PullDisplay

    cidfile = options["cidfile"]
    check_cidfile(cidfile)
    body = create_body(options)
    body["AttachStdout"] = body["AttachStderr"] = attach
    image = options["image"]

    def pull_image() -> None:
        display = PullDisplay(as_json=False, to_stderr=True)
        with display.bars:
            pull(client, image, display)

    if options["pull_policy"] == "always":
        pull_image()
    query = {"name": options["name"]}
    try:
        answer = client.call("POST", "/containers/create", query, body=body)
    except DaemonError as missing:
        if (
            missing.status != 404
            or "No such image" not in missing.message
            or options["pull_policy"] == "never"
        ):
            raise
        click.echo(f"Unable to find image '{image}' locally", err=True)
        pull_image()
        answer = client.call("POST", "/containers/create", query, body=body)
    for warning in answer.get("Warnings") or []:
        click.echo(f"WARNING: {warning}", err=True)
    container_id: str = answer["Id"]
    if cidfile:
        with open(cidfile, "x") as handle:
            handle.write(container_id)
    return container_id


def start_exit_code(error: DaemonError) -> int:
    """docker run's code for a start the daemon refused (a 400 is a command that could
    not be started)."""
    return run_failure_code(error.status == 400, error.message)


def run(client: DaemonClient, options: dict[str, Any], detach: bool) -> int:
    """create (pulling on 404), attach unless -d, wait, start; the container's exit code.

    As the docker CLI: attach (its own connection) and wait are both sent before start, so
    no output and no exit is missed; `--rm` is the daemon's (HostConfig.AutoRemove), and
    for it the wait is for `removed`.
    """
    container_id = create(client, options, attach=not detach)
    path = f"/containers/{container_id}"
    if detach:
        client.request("POST", f"{path}/start").read()
        click.echo(container_id)
        return 0
    stream = client.hijack(f"{path}/attach", {"stream": 1, "stdout": 1, "stderr": 1})
    condition = "removed" if options["auto_remove"] else "next-exit"
    waiting = client.request("POST", f"{path}/wait", {"condition": condition})
    try:
        client.request("POST", f"{path}/start").read()
    except DaemonError as error:
        stream.close()
        waiting.close()
        report(error)
        raise ExitWith(start_exit_code(error)) from None
    with proxied_signals(client.host, container_id):
        copy_frames(stream, sys.stdout.buffer, sys.stderr.buffer)
    stream.close()
    answer = waiting.json() or {}
    if answer.get("Error"):
        click.echo(f"Error waiting for container: {answer['Error'].get('Message')}", err=True)
    return int(answer.get("StatusCode", ENGINE_ERROR))


@contextmanager
def proxied_signals(host: str, container_id: str) -> Iterator[None]:
    """As docker's --sig-proxy: SIGINT and SIGTERM to `berth run` go to the container."""
    import signal

    def forward(number: int, frame: object) -> None:
        name = signal.Signals(number).name
        with contextlib.suppress(DaemonError, DaemonUnreachable, OSError):
            own = DaemonClient(host)  # the main connections are mid-answer
            own.request("POST", f"/containers/{container_id}/kill", {"signal": name}).read()

    previous = {n: signal.signal(n, forward) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def wait(client: DaemonClient, refs: tuple[str, ...], condition: str) -> None:
    def wait_one(ref: str) -> None:
        answer = client.call("POST", f"/containers/{segment(ref)}/wait", {"condition": condition})
        if answer.get("Error"):
            raise DaemonError(500, str(answer["Error"].get("Message")))
        click.echo(answer["StatusCode"])

    each_ref(refs, wait_one, echo=False)


def act(client: DaemonClient, verb: str, refs: tuple[str, ...], **query: Any) -> None:
    """start, stop, kill, restart, pause, unpause: one POST each, the ref echoed."""
    each_ref(
        refs,
        lambda ref: client.request("POST", f"/containers/{segment(ref)}/{verb}", query).read(),
    )


def rm(client: DaemonClient, refs: tuple[str, ...], force: bool) -> None:
    each_ref(
        refs,
        lambda ref: client.request(
            "DELETE", f"/containers/{segment(ref)}", {"force": force or None}
        ).read(),
    )


def rename(client: DaemonClient, ref: str, new_name: str) -> None:
    client.request("POST", f"/containers/{segment(ref)}/rename", {"name": new_name}).read()


def prune(client: DaemonClient) -> list[str]:
    answer = client.call("POST", "/containers/prune")
    return list(answer.get("ContainersDeleted") or [])


def logs(client: DaemonClient, ref: str, bounds: dict[str, Any]) -> None:
    from ..system import _relative

    query = {
        "stdout": 1,
        "stderr": 1,
        "follow": bounds["follow"] or None,
        "timestamps": bounds["timestamps"] or None,
        "since": _relative(bounds["since"]),
        "until": _relative(bounds["until"]),
        "tail": bounds["tail"],
    }
    response = client.request("GET", f"/containers/{segment(ref)}/logs", query)
    copy_frames(response, sys.stdout.buffer, sys.stderr.buffer)


def ps(
    client: DaemonClient,
    show_all: bool,
    quiet: bool,
    no_trunc: bool,
    filters: dict[str, list[str]],
    last: int | None,
    output: str,
) -> None:
    query = {"all": show_all or None, "limit": last, "filters": filters or None}
    entries = client.call("GET", "/containers/json", query)
    for line in ps_output(entries, quiet, no_trunc, output):
        click.echo(line)


def inspect(client: DaemonClient, refs: tuple[str, ...]) -> None:
    """Containers first, then images, as `docker inspect` looks them up."""
    docs, missing = [], []
    for ref in refs:
        for kind in ("containers", "images"):
            try:
                docs.append(client.call("GET", f"/{kind}/{segment(ref)}/json"))
                break
            except DaemonError as error:
                if error.status != 404:
                    raise
        else:
            missing.append(ref)
    click.echo(json.dumps(docs, indent=4))
    for ref in missing:
        click.echo(f"Error: No such object: {ref}", err=True)
    if missing:
        raise ExitWith(1)


# System --------------------------------------------------------------------------------------


def events(
    client: DaemonClient,
    since: str | None,
    until: str | None,
    filters: dict[str, list[str]],
    output: str,
) -> None:
    from ..system import _format, _relative

    query = {"since": _relative(since), "until": _relative(until), "filters": filters or None}
    for line in client.request("GET", "/events", query).lines():
        click.echo(_format(json.loads(line), output), nl=True)


def version(client: DaemonClient) -> None:
    server = client.call("GET", "/version")
    click.echo("Server:")
    click.echo(f" Engine:        {server.get('Version')}")
    click.echo(
        f"  API version:  {server.get('ApiVersion')} (minimum version "
        f"{server.get('MinAPIVersion')})"
    )
    click.echo(f"  OS/Arch:      {server.get('Os')}/{server.get('Arch')}")
    click.echo(f"  Kernel:       {server.get('KernelVersion')}")


def info(client: DaemonClient) -> None:
    data = client.call("GET", "/info")
    click.echo(f"Containers: {data.get('Containers')}")
    click.echo(f" Running: {data.get('ContainersRunning')}")
    click.echo(f" Paused: {data.get('ContainersPaused')}")
    click.echo(f" Stopped: {data.get('ContainersStopped')}")
    click.echo(f"Images: {data.get('Images')}")
    click.echo(f"Server Version: {data.get('ServerVersion')}")
    click.echo(f"Root Dir: {data.get('DockerRootDir')}")
    click.echo(f"Name: {data.get('Name')}")
