"""The daemon's malloc arena cap is taken by glibc (this host's C library)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from berth.adapters.malloc_arenas import cap_malloc_arenas
sys.exit(0 if cap_malloc_arenas() else 1)
"""


def test_glibc_takes_the_cap() -> None:
    # In a process of its own: the cap stays for the life of the process that sets it.
    assert subprocess.run([sys.executable, "-c", PROBE], check=False).returncode == 0
