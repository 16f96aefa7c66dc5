"""The capabilities berthd itself holds: its bounding set, read from /proc/self/status.

No process berthd starts can hold a capability outside it (runc fails with "unable to
apply caps"), so this is what a privileged container gets, as with dockerd, which reads
the same set (moby `caps.GetAllCapabilities`).
"""

from __future__ import annotations

from pathlib import Path

from berth.domain.settings_rules import capabilities_in_mask

STATUS = Path("/proc/self/status")


def bounding_capabilities(status: Path = STATUS) -> frozenset[str] | None:
    """The named capabilities of the CapBnd mask; None if the kernel shows no such line."""
    for line in status.read_text().splitlines():
        if line.startswith("CapBnd:"):
            return capabilities_in_mask(int(line.split()[1], 16))
    return None
