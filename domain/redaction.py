"""A caller's command line as the audit trail may keep it: secret values replaced.

The log is append-only and hash-chained, so what it records about a caller stays there
for good and reaches whoever reads the log; dockerd records no command line at all. berth
keeps the command line (it says what a change was for) but never the values that
travel on it in clear (ADR/0018):

- environment values and build arguments: `-e K=V`, `-eK=V`, `-e=K=V`, `-ie K=V`,
  `--env K=V`, `--env=K=V`, `--build-arg K=V` keep `K` (`K=<redacted>`); `-e K` alone
  names a variable of the client's own environment and is kept;
- passwords: the value of `--password` anywhere, and of `-p` after `login` (elsewhere
  `-p` publishes ports); `--password-stdin` and `--env-file PATH` carry none;
- the password of a URL's user information (`https://user:TOKEN@host`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

REDACTED = "<redacted>"

_ENV_FLAGS = frozenset({"--env", "--build-arg"})
_PASSWORD_FLAGS = frozenset({"--password"})
# `-e` alone or after docker's boolean shorthands (`-ite`), its value attached (`-eK=V`,
# `-e=K=V`) or in the next argument.
_SHORT_ENV = re.compile(r"-[ditPq]*e(?P<value>.*)", re.DOTALL)
_URL_PASSWORD = re.compile(r"(?P<user>[a-z][a-z0-9+.-]*://[^/?#@:\s]*:)[^/?#@\s]+@", re.I)


def redact_command(argv: Sequence[str]) -> list[str]:
    """`argv` with every secret value replaced; as many arguments, in the same order."""
    return list(_redacted(argv))


def command_text(argv: Sequence[str]) -> str | None:
    """The redacted command line as one string, as the audit trail shows it."""
    return " ".join(redact_command(argv)) or None


def _redacted(argv: Sequence[str]) -> Iterator[str]:
    pending: str | None = None  # what the previous flag makes of this argument
    after_login = False
    for argument in argv:
        if pending is not None:
            yield _env_value(argument) if pending == "env" else REDACTED
            pending = None
            continue
        flag, equals, value = argument.partition("=")
        short = _SHORT_ENV.fullmatch(argument) if not argument.startswith("--") else None
        if flag in _ENV_FLAGS:
            if equals:
                yield f"{flag}={_env_value(value)}"
            else:
                pending = "env"
                yield argument
        elif flag in _PASSWORD_FLAGS or (after_login and flag == "-p"):
            if equals:
                yield f"{flag}={REDACTED}"
            else:
                pending = "password"
                yield argument
        elif after_login and argument.startswith("-p"):
            yield f"-p{REDACTED}"  # `-pSECRET`
        elif short is not None:
            attached = short["value"]
            if not attached:
                pending = "env"
                yield argument
            else:
                cluster = argument[: len(argument) - len(attached)]
                sign = "=" if attached.startswith("=") else ""
                yield f"{cluster}{sign}{_env_value(attached.removeprefix('='))}"
        else:
            after_login = after_login or argument == "login"
            yield _URL_PASSWORD.sub(rf"\g<user>{REDACTED}@", argument)


def _env_value(assignment: str) -> str:
    """`K=V` as `K=<redacted>`; a bare `K` (the value is the client's) as it is."""
    name, equals, _ = assignment.partition("=")
    return f"{name}={REDACTED}" if equals else assignment
