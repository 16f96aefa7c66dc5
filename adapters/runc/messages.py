"""crun's words for a process it could not run, in runc's (which are Docker's).

dockerd's answers and exit codes (126, 127: domain/container/exit_codes.py) are read from
runc's text, `exec: "x": executable file not found in $PATH`; crun says the same things
otherwise, and its "open executable" does not even name the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_NOT_FOUND = re.compile(
    r"executable file `(?P<file>[^`]*)` not found in \$PATH: No such file or directory"
)
_NOT_RUNNABLE = re.compile(r"open executable: (Permission denied|Operation not permitted)")


def docker_words(message: str, executable: str | None) -> str:
    """`message` with crun's failures to run `executable` in runc's words; others as
    they are."""

    def not_found(match: re.Match[str]) -> str:
        file = match["file"]
        if "/" in file:  # runc looks a path up itself, without $PATH
            return f'exec: "{file}": stat {file}: no such file or directory'
        return f'exec: "{file}": executable file not found in $PATH'

    message = _NOT_FOUND.sub(not_found, message)
    if executable is not None:
        message = _NOT_RUNNABLE.sub(f'exec: "{executable}": permission denied', message)
    return message


def bundle_executable(bundle: Path) -> str | None:
    """The command the bundle's config.json runs (`process.args[0]`), if it says."""
    try:
        args = json.loads((bundle / "config.json").read_text())["process"]["args"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(args[0]) if isinstance(args, list) and args else None
