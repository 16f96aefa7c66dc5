"""glibc's malloc arenas, capped for the daemon (ADR/0048).

glibc gives every thread that allocates while another holds an arena a heap of its own,
up to eight per core, and keeps what is freed in each. berthd's store work runs in trio's
worker threads, each with its SQLite connection and page cache: with 100 running
containers those arenas held ~12 MB more than two shared ones, for no measurable speed
(Python code runs one thread at a time under the GIL).
"""

from __future__ import annotations

import ctypes

#: mallopt's parameter number for the arena cap (malloc.h).
M_ARENA_MAX = -8
DAEMON_ARENAS = 2


def cap_malloc_arenas(arenas: int = DAEMON_ARENAS) -> bool:
    """Cap this process's malloc arenas; False where the C library has no such setting
    (not glibc). Call before threads start: arenas already made stay."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
