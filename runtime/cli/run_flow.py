"""`berth create` and `berth run`'s flow without click, the docker CLI's, written once
(ADR/0024): the click commands (cli/run.py) and the fast path (cli/fast.py) run it.

create; on 404 "No such image", print `Unable to find image 'REF' locally` on stderr,
pull with progress (on stderr: stdout is the container's) and create again. `run` without
-d then attaches (on its own connection) and sends `wait` (`removed` for --rm, else
`next-exit`) before `start`, so that no output and no exit is missed, and ends with the
container's exit code: 125 for an engine or client error, 127 when the command was not
found and 126 when it could not be run.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from berth.domain.exit_codes import ENGINE_ERROR, run_failure_code

from .client.http import DaemonClient, DaemonError, DaemonUnreachable
from .content_trust import content_trust, is_tag, pinned
from .create_body import check_cidfile, create_body
from .outcome import ExitWith, echo, report
from .terminal import Session


def create_container(client: DaemonClient, options: dict[str, Any], attach: bool) -> str:
    """The seed's client flow: create; on "No such image", pull with progress, create again."""
    cidfile = options["cidfile"]
    check_cidfile(cidfile)
    body = create_body(options)
    body["AttachStdout"] = body["AttachStderr"] = attach
    # As docker's: an attached stdin is closed at its end (StdinOnce).
    body["AttachStdin"] = body["StdinOnce"] = attach and options["interactive"]
    image = options["image"]

    def pull() -> None:
        from .images import PullDisplay, pull_image  # rich: only when an image is pulled

        display = PullDisplay(as_json=False, to_stderr=True)
        with display.bars:
            pull_image(client, image, display)

    if content_trust(options.get("disable_content_trust", False)) and is_tag(image):
        if options["pull_policy"] != "never":
            pull()
        body["Image"] = pinned(client, image)
    elif options["pull_policy"] == "always":
        pull()
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
        echo(f"Unable to find image '{image}' locally", err=True)
        pull()
        answer = client.call("POST", "/containers/create", query, body=body)
    for warning in answer.get("Warnings") or []:
        echo(f"WARNING: {warning}", err=True)
    container_id: str = answer["Id"]
    if cidfile:
        with open(cidfile, "x") as handle:
            handle.write(container_id)
    return container_id


def start_exit_code(error: DaemonError) -> int:
    """docker run's code for a start the daemon refused (a 400 is a command that could
    not be started)."""
    return run_failure_code(error.status == 400, error.message)


def run_container(client: DaemonClient, options: dict[str, Any], detach: bool) -> int:
    """create (pulling on 404), attach unless -d, wait, start; the container's exit code."""
    container_id = create_container(client, options, attach=not detach)
    path = f"/containers/{container_id}"
    if detach:
        client.request("POST", f"{path}/start").read()
        echo(container_id)
        return 0
    tty = options["tty"]
    session = Session(
        client,
        container_id,
        stdin=options["interactive"],
        tty=tty,
        detach_keys=options.get("detach_keys") or "",
    )
    condition = "removed" if options["auto_remove"] else "next-exit"
    waiting = client.request("POST", f"{path}/wait", {"condition": condition})
    try:
        client.request("POST", f"{path}/start").read()
    except DaemonError as error:
        session.stream.close()
        waiting.close()
        report(error)
        raise ExitWith(start_exit_code(error)) from None
    session.resize()
    # As docker's --sig-proxy: not with a terminal, whose keys reach the container anyway.
    with contextlib.nullcontext() if tty else proxied_signals(client.host, container_id):
        session.copy()
    if session.detached:
        waiting.close()
        return 0
    answer = waiting.json() or {}
    if answer.get("Error"):
        echo(f"Error waiting for container: {answer['Error'].get('Message')}", err=True)
    return int(answer.get("StatusCode", ENGINE_ERROR))


@contextmanager
def proxied_signals(host: str, container_id: str) -> Iterator[None]:
    """As docker's --sig-proxy: SIGINT and SIGTERM to `berth run` go to the container."""

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
