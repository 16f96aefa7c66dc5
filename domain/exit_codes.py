"""Docker's exit codes for a command that never ran: `docker run`'s, and the `ExitCode`
recorded when a start fails.

125 means the engine refused or failed; 126, the command was found but could not be run;
127, the command was not found (runc says "executable file not found", as a shell would
answer 127).
"""

from __future__ import annotations

ENGINE_ERROR = 125
CANNOT_RUN = 126
NOT_FOUND = 127
_NOT_FOUND_REASON = "executable file not found"


def start_failure_code(reason: str) -> int:
    """The exit code of a start that failed for `reason` (the runtime's message)."""
    return NOT_FOUND if _NOT_FOUND_REASON in reason else CANNOT_RUN


def run_failure_code(start_failed: bool, reason: str) -> int:
    """`docker run`'s exit code when it fails before the container exits: the start's
    code if the start failed, else 125."""
    return start_failure_code(reason) if start_failed else ENGINE_ERROR
