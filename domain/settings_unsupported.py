"""Settings berth accepts on the wire but does not apply yet, refused at create.

The project's rule: a setting berth would store and ignore is refused with a 400 that
names it, before anything is recorded. Each entry names the Docker field, the docker CLI
flag that sets it, and how to read it from a Config; the issue that implements a setting
removes its entry here.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Config
from .errors import InvalidParameter

# Interactive containers (stdin and terminals) are issue 14: until then berth would run
# the container with stdin closed and no terminal, and `docker run -i` would exit 0.
UNAPPLIED_CONFIG: tuple[tuple[str, str, Callable[[Config], bool]], ...] = (
    ("OpenStdin", "-i", lambda c: c.open_stdin),
    ("AttachStdin", "-a stdin", lambda c: c.attach_stdin),
    ("StdinOnce", "-i", lambda c: c.stdin_once),
    ("Tty", "-t", lambda c: c.tty),
)


def refuse_unapplied(config: Config) -> None:
    """InvalidParameter naming the first setting of `config` berth does not apply yet."""
    for field_name, flag, is_set in UNAPPLIED_CONFIG:
        if is_set(config):
            raise InvalidParameter(f"{field_name} ({flag}) is not supported by berth yet")
