"""Which cgroups a process is in, as /proc says: what the cgroup tests check against."""

from __future__ import annotations

from pathlib import Path


def process_cgroups(pid: int) -> dict[str, str]:
    """/proc/<pid>/cgroup as {hierarchy key: path}; the v2 entry's key is ""."""
    entries = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        entries[controllers] = path
    return entries
