"""berthd's bounding set, read from /proc/self/status."""

from __future__ import annotations

from pathlib import Path

from berth.adapters.capabilities import bounding_capabilities
from berth.domain.settings_rules import CAPABILITIES

STATUS = "Name:\tberthd\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n"


def test_the_bounding_set_is_read_from_capbnd(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(STATUS)
    assert bounding_capabilities(status) == CAPABILITIES - {"CAP_SYS_RESOURCE"}
    status.write_text("Name:\tberthd\n")
    assert bounding_capabilities(status) is None


# Linux's capability.h, bit by bit: the oracle the decoding is checked against.
KERNEL_BITS = """
CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
CHECKPOINT_RESTORE
"""


def test_this_process_holds_what_the_kernel_shows() -> None:
    (line,) = [li for li in Path("/proc/self/status").read_text().splitlines() if "CapBnd" in li]
    mask = int(line.split()[1], 16)
    expected = {"CAP_" + name for bit, name in enumerate(KERNEL_BITS.split()) if mask >> bit & 1}
    assert bounding_capabilities() == expected
