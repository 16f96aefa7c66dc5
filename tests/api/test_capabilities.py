"""--privileged and --cap-add ALL grant exactly the capabilities berthd holds, as dockerd.

berthd cannot give a container a capability outside its own bounding set (runc fails with
"unable to apply caps"); this VM's lacks CAP_SYS_RESOURCE. Run with the docker CLI and
real runc; each container's CapEff is compared with berthd's own CapBnd.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Berthd


def status_mask(text: str, field: str) -> int:
    (line,) = [li for li in text.splitlines() if li.startswith(f"{field}:")]
    return int(line.split()[1], 16)


def berthd_bounding_set(daemon: Berthd) -> int:
    return status_mask(Path(f"/proc/{daemon.process.pid}/status").read_text(), "CapBnd")


@pytest.mark.parametrize("flags", [("--privileged",), ("--cap-add", "ALL")])
def test_all_capabilities_are_those_berthd_holds(berthd: Berthd, flags: tuple[str, ...]) -> None:
    run = berthd.docker("run", "--rm", *flags, "busybox", "cat", "/proc/self/status")
    assert run.returncode == 0, run.stderr
    assert status_mask(run.stdout, "CapEff") == berthd_bounding_set(berthd)
    assert status_mask(run.stdout, "CapBnd") == berthd_bounding_set(berthd)


def test_a_capability_berthd_lacks_fails_the_start_naming_it(berthd: Berthd) -> None:
    bounding = berthd_bounding_set(berthd)
    sys_resource = 1 << 24
    if bounding & sys_resource:
        pytest.skip("berthd holds CAP_SYS_RESOURCE here: nothing it could not grant")
    run = berthd.docker("run", "--cap-add", "SYS_RESOURCE", "--name", "lacking", "busybox", "true")
    assert run.returncode != 0
    assert "CAP_SYS_RESOURCE" in run.stderr and "bounding set" in run.stderr, run.stderr
    granted = berthd.docker("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "true")
    assert granted.returncode == 0, granted.stderr
