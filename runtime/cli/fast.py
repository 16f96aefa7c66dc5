"""`berth`'s entry point: the hot remote commands without click, everything else with it.

`berth -H unix:///… run|ps|start|stop|rm|exec|logs|inspect` with their common flags (or
BERTH_HOST instead of -H) is read by cli/fast_flags.py and sent by the same flows the click
commands run (cli/flows.py, cli/run_flow.py), so its first byte reaches the socket without
importing click, rich or trio (ADR/0042). Any other command line — another command or
flag, no host (the root's engine is looked for, or started: cli/session.py), a value click
would refuse, --help — goes to the click CLI (cli/main.py), which prints and exits as
before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from .client.http import DaemonClient, socket_path
from .fast_flags import parse
from .outcome import ExitWith, reported

#: The commands the fast path reads; each is given its client and click's parameters.
Handler = Callable[[DaemonClient, dict[str, Any]], int | None]


def _run(client: DaemonClient, params: dict[str, Any]) -> int:
    from .run_flow import run_container

    options = dict(params)
    return run_container(client, options, options.pop("detach"))


def _ps(client: DaemonClient, params: dict[str, Any]) -> None:
    from .flows import list_containers

    del params["filters"]  # never set: -f is click's (its parser imports re2)
    list_containers(client, **params)


def _post(verb: str, **query: str) -> Handler:
    def post(client: DaemonClient, params: dict[str, Any]) -> None:
        from .flows import post_to_each

        post_to_each(client, verb, params["refs"], **{q: params[p] for q, p in query.items()})

    return post


def _rm(client: DaemonClient, params: dict[str, Any]) -> None:
    from .flows import remove_containers

    remove_containers(client, params.pop("refs"), **params)


def _inspect(client: DaemonClient, params: dict[str, Any]) -> None:
    from .flows import inspect_objects

    inspect_objects(client, params["refs"])


def _logs(client: DaemonClient, params: dict[str, Any]) -> None:
    from .flows import print_logs

    print_logs(client, params.pop("ref"), **params)


def _exec(client: DaemonClient, params: dict[str, Any]) -> int:
    from .flows import exec_in

    return exec_in(client, params.pop("container"), params.pop("command"), **params)


HANDLERS: dict[str, Handler] = {
    "run": _run,
    "ps": _ps,
    "start": _post("start"),
    "stop": _post("stop", t="timeout"),
    "rm": _rm,
    "inspect": _inspect,
    "logs": _logs,
    "exec": _exec,
}
#: docker run's code for an engine's or the client's error; the others end with 1.
ENGINE_CODES = {"run": 125}


def fast_command(args: list[str], environ: dict[str, str]) -> tuple[str, str, list[str]] | None:
    """(host, command, its arguments) when the fast path reads `berth ARGS`, else None."""
    host = None
    rest = list(args)
    while rest and rest[0].startswith("-"):
        arg = rest.pop(0)
        if arg in ("-H", "--host") and rest and not rest[0].startswith("-"):
            host = rest.pop(0)
        elif arg.startswith("--host="):
            host = arg.removeprefix("--host=")
        elif arg.startswith("-H") and len(arg) > 2:
            host = arg[2:]
        else:
            return None
    host = host or environ.get("BERTH_HOST") or None
    if not rest or rest[0] not in HANDLERS or host is None:
        return None
    try:
        socket_path(host)
    except ValueError:
        return None
    return host, rest[0], rest[1:]


def run_fast(host: str, name: str, params: dict[str, Any]) -> int:
    """The command's exit code, its errors reported as the click command reports them."""
    client = DaemonClient(host)
    try:
        with reported(ENGINE_CODES.get(name, 1)):
            return HANDLERS[name](client, params) or 0
        return 0  # nothing to do (304)
    except ExitWith as done:
        return done.code
    finally:
        client.close()


def main() -> None:
    found = fast_command(sys.argv[1:], dict(os.environ))
    if found is not None:
        host, name, args = found
        params = parse(name, args)
        if params is not None:
            try:
                sys.exit(run_fast(host, name, params))
            except BrokenPipeError:  # as click's main: the reader of stdout has gone, exit 1
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)
    from .main import main as click_main

    click_main()
