"""The flags of the hot remote commands, read without click (cli/fast.py).

It reads exactly what click would for the common flags of `run`, `ps`, `start`, `stop`,
`rm`, `exec`, `logs` and `inspect` — `-it`, `-eX`, `--name=x`, `--name x`, `--`, options
after the refs — and answers None for anything else (another flag, a value that needs
checking, a missing argument, --help): then click reads the command line, so its errors
and help stay the only ones. tests/runtime/test_cli_fast_path.py holds the two readings
equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

#: A flag's kind: a switch, a value (the last one given wins, as click's), a list of values
#: or an integer.
SWITCH, VALUE, VALUES, INTEGER = "switch", "value", "values", "integer"


class Command(NamedTuple):
    """One command's flags, as its click command declares them."""

    #: flag spelling (`-d`, `--detach`) → (parameter name, kind)
    flags: Mapping[str, tuple[str, str]]
    #: the positional arguments' names; the last takes the rest (nargs=-1)
    arguments: tuple[str, ...]
    #: how many positional arguments are required at least
    required: int
    #: False: the first positional argument ends the flags (run's image, exec's container)
    interspersed: bool = True
    #: the parameters click would give that these flags do not set (the fast path leaves
    #: the lines that set them to click)
    defaults: Mapping[str, Any] = {}


def _flags(*specs: tuple[str, str, str]) -> dict[str, tuple[str, str]]:
    """`("-d --detach", "detach", SWITCH)` for each flag."""
    return {each: (name, kind) for spellings, name, kind in specs for each in spellings.split()}


_REFS = ("refs",)

#: The create options click gives `run` that the fast path leaves at their defaults.
RUN_DEFAULTS: dict[str, Any] = {
    "env_file": (),
    "restart": "no",
    "memory": None,
    "memory_swap": None,
    "cpus": None,
    "cpu_shares": 0,
    "pids_limit": None,
    "volume": (),
    "mount": [],
    "tmpfs": (),
    "volumes_from": (),
    "ip": "",
    "network_alias": (),
    "mac_address": "",
    "publish": (),
    "publish_all": False,
    "cidfile": None,
    "pull_policy": "missing",
    "stop_timeout": None,
    "health_cmd": "",
    "health_interval": 0,
    "health_timeout": 0,
    "health_start_period": 0,
    "health_retries": 0,
    "no_healthcheck": False,
    "log_driver": "",
    "log_opt": (),
    "disable_content_trust": False,
}

COMMANDS: dict[str, Command] = {
    "run": Command(
        _flags(
            ("-d --detach", "detach", SWITCH),
            ("-i --interactive", "interactive", SWITCH),
            ("-t --tty", "tty", SWITCH),
            ("--rm", "auto_remove", SWITCH),
            ("--init", "init", SWITCH),
            ("--privileged", "privileged", SWITCH),
            ("--read-only", "read_only", SWITCH),
            ("--disable-content-trust", "disable_content_trust", SWITCH),
            ("--name", "name", VALUE),
            ("-w --workdir", "workdir", VALUE),
            ("-u --user", "user", VALUE),
            ("-h --hostname", "hostname", VALUE),
            ("--entrypoint", "entrypoint", VALUE),
            ("--network", "network", VALUE),
            ("--detach-keys", "detach_keys", VALUE),
            ("--stop-signal", "stop_signal", VALUE),
            ("-e --env", "env", VALUES),
            ("-l --label", "label", VALUES),
            ("--cap-add", "cap_add", VALUES),
            ("--cap-drop", "cap_drop", VALUES),
        ),
        ("image", "command"),
        required=1,
        interspersed=False,
        defaults={
            **RUN_DEFAULTS,
            "name": None,
            "workdir": "",
            "user": "",
            "hostname": "",
            "entrypoint": None,
            "network": "",
            "detach_keys": "",
            "stop_signal": "",
        },
    ),
    "ps": Command(
        _flags(
            ("-a --all", "show_all", SWITCH),
            ("-q --quiet", "quiet", SWITCH),
            ("--no-trunc", "no_trunc", SWITCH),
            ("-n --last", "last", INTEGER),
            ("--format", "output", VALUE),
            ("--fleet", "fleet", SWITCH),
        ),
        (),
        required=0,
        defaults={"last": None, "output": "", "filters": ()},
    ),
    "start": Command(
        {}, _REFS, required=1, defaults={"attach_": False, "interactive": False, "detach_keys": ""}
    ),
    "stop": Command(
        _flags(("-t --time", "timeout", INTEGER)), _REFS, required=1, defaults={"timeout": None}
    ),
    "rm": Command(
        _flags(("-f --force", "force", SWITCH), ("-v --volumes", "volumes", SWITCH)),
        _REFS,
        required=1,
    ),
    "inspect": Command({}, _REFS, required=1, defaults={"at": None}),
    "logs": Command(
        _flags(
            ("-f --follow", "follow", SWITCH),
            ("-t --timestamps", "timestamps", SWITCH),
            ("-n --tail", "tail", VALUE),
        ),
        ("ref",),
        required=1,
        defaults={"tail": "all", "since": None, "until": None},
    ),
    "exec": Command(
        _flags(
            ("-d --detach", "detach", SWITCH),
            ("-i --interactive", "interactive", SWITCH),
            ("-t --tty", "use_tty", SWITCH),
            ("--privileged", "privileged", SWITCH),
            ("-u --user", "user", VALUE),
            ("-w --workdir", "workdir", VALUE),
            ("--detach-keys", "detach_keys", VALUE),
            ("-e --env", "env", VALUES),
        ),
        ("container", "command"),
        required=2,
        interspersed=False,
        defaults={"user": "", "workdir": "", "detach_keys": ""},
    ),
}


class _NotMine(Exception):
    """A command line the fast path leaves to click."""


def parse(name: str, args: list[str]) -> dict[str, Any] | None:
    """The parameters click would give command `name` for `args`, or None when the fast
    path does not read them (click then does)."""
    command = COMMANDS.get(name)
    if command is None:
        return None
    try:
        return _parse(command, args)
    except _NotMine:
        return None


def _parse(command: Command, args: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = dict(command.defaults)
    for param, kind in command.flags.values():
        if kind in (SWITCH, VALUES):
            params.setdefault(param, False if kind == SWITCH else ())
    positional: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if positional and not command.interspersed:
            positional += [arg, *rest]
            break
        if arg == "--":
            positional += rest
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
        elif arg.startswith("--"):
            spelling, has_value, value = arg.partition("=")
            _take(command, params, spelling, [value] if has_value else None, rest)
        else:
            _short(command, params, arg, rest)
    if len(positional) < command.required or (positional and not command.arguments):
        raise _NotMine
    if command.arguments:
        *single, last = command.arguments
        params.update(zip(single, positional, strict=False))
        taken = positional[len(single) :]
        if last in ("refs", "command"):  # nargs=-1
            params[last] = tuple(taken)
        elif len(taken) == 1:
            params[last] = taken[0]
        else:
            raise _NotMine
    return params


def _short(command: Command, params: dict[str, Any], arg: str, rest: list[str]) -> None:
    """`-dit`, `-eX=1`, `-e X`: switches cluster; a value flag takes the rest, or the next."""
    for index in range(1, len(arg)):
        spelling = "-" + arg[index]
        param, kind = _flag(command, spelling)
        if kind == SWITCH:
            params[param] = True
            continue
        tail = arg[index + 1 :]
        _take(command, params, spelling, [tail] if tail else None, rest)
        return


def _flag(command: Command, spelling: str) -> tuple[str, str]:
    found = command.flags.get(spelling)
    if found is None:
        raise _NotMine
    return found


def _take(
    command: Command,
    params: dict[str, Any],
    spelling: str,
    given: list[str] | None,
    rest: list[str],
) -> None:
    param, kind = _flag(command, spelling)
    if kind == SWITCH:
        if given is not None:  # `--rm=x`: click's error
            raise _NotMine
        params[param] = True
        return
    if given is None:
        if not rest or rest[0].startswith("-"):  # missing, or a value click would question
            raise _NotMine
        given = [rest.pop(0)]
    value = given[0]
    if kind == VALUES:
        params[param] = (*params[param], value)
    elif kind == INTEGER:
        try:
            params[param] = int(value)
        except ValueError:
            raise _NotMine from None
    else:
        params[param] = value
