"""The bodies of the hot remote commands without click: `ps`, `inspect`, `start`, `stop`,
`rm`, `logs` and `exec`. The click commands and the fast path (cli/fast.py) both call them,
so their requests, output and exit codes are one; each returns the command's exit code or
raises ExitWith, and an engine's error is the caller's to report (outcome.reported).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from .client.frames import copy_frames
from .client.http import DaemonClient, DaemonError, segment
from .client.render import ps_output
from .outcome import ExitWith, each_ref, echo
from .terminal import ExecSession, window_size


def list_containers(
    client: DaemonClient,
    *,
    show_all: bool,
    quiet: bool,
    no_trunc: bool,
    last: int | None,
    output: str,
    filters: dict[str, Any] | None = None,
    fleet: bool = False,
) -> None:
    if fleet:  # every host's, from the fleet view (ADR/0043)
        entries = client.call("GET", "/berth/fleet/containers", {})
    else:
        query = {"all": show_all or None, "limit": last, "filters": filters or None}
        entries = client.call("GET", "/containers/json", query)
    for line in ps_output(entries, quiet, no_trunc, output):
        echo(line)


def inspect_objects(client: DaemonClient, refs: tuple[str, ...]) -> None:
    """Containers first, then images, as `docker inspect` looks them up."""
    found, missing = [], []
    for ref in refs:
        for kind in ("containers", "images"):
            try:
                found.append(client.call("GET", f"/{kind}/{segment(ref)}/json"))
                break
            except DaemonError as error:
                if error.status != 404:
                    raise
        else:
            missing.append(ref)
    echo(json.dumps(found, indent=4))
    for ref in missing:
        echo(f"Error: No such object: {ref}", err=True)
    if missing:
        raise ExitWith(1)


def post_to_each(client: DaemonClient, verb: str, refs: tuple[str, ...], **query: Any) -> None:
    """start, stop, kill, restart, pause, unpause: one POST a container, its ref echoed."""
    each_ref(
        refs,
        lambda ref: client.request("POST", f"/containers/{segment(ref)}/{verb}", query).read(),
    )


def remove_containers(
    client: DaemonClient, refs: tuple[str, ...], *, force: bool, volumes: bool
) -> None:
    query = {"force": force or None, "v": volumes or None}
    each_ref(
        refs, lambda ref: client.request("DELETE", f"/containers/{segment(ref)}", query).read()
    )


def print_logs(
    client: DaemonClient,
    ref: str,
    *,
    follow: bool,
    timestamps: bool,
    tail: str,
    since: str | None = None,
    until: str | None = None,
) -> None:
    """`since` and `until` as the API takes them (session.api_time)."""
    query = {
        "stdout": 1,
        "stderr": 1,
        "follow": follow or None,
        "timestamps": timestamps or None,
        "since": since,
        "until": until,
        "tail": tail,
    }
    response = client.request("GET", f"/containers/{segment(ref)}/logs", query)
    copy_frames(response, sys.stdout.buffer, sys.stderr.buffer)


def exec_in(
    client: DaemonClient,
    container: str,
    command: tuple[str, ...],
    *,
    detach: bool = False,
    interactive: bool = False,
    use_tty: bool = False,
    user: str = "",
    workdir: str = "",
    env: tuple[str, ...] = (),
    privileged: bool = False,
    detach_keys: str = "",
) -> int:
    """docker exec's flow: create, start (hijacked unless -d), inspect for the exit code."""
    body: dict[str, Any] = {
        "User": user,
        "Privileged": privileged,
        "Tty": use_tty,
        "AttachStdin": interactive and not detach,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "DetachKeys": detach_keys,
        "Env": [_env_entry(e) for e in env],
        "WorkingDir": workdir,
        "Cmd": list(command),
    }
    size = window_size() if use_tty and not detach else None
    if size is not None:
        body["ConsoleSize"] = list(size)
    exec_id = client.call("POST", f"/containers/{segment(container)}/exec", body=body)["Id"]
    if detach:
        start = {"Detach": True, "Tty": use_tty}
        client.request("POST", f"/exec/{exec_id}/start", body=start).read()
        return 0
    session = ExecSession(client, exec_id, stdin=interactive, tty=use_tty, keys=detach_keys)
    session.resize()
    session.copy()
    if session.detached:
        echo("read escape sequence", err=True)
        return 1
    shown = client.call("GET", f"/exec/{exec_id}/json")
    return int(shown.get("ExitCode") or 0)


def _env_entry(entry: str) -> str:
    """docker's `-e NAME` takes NAME's value from the caller's environment."""
    if "=" in entry or entry not in os.environ:
        return entry
    return f"{entry}={os.environ[entry]}"
