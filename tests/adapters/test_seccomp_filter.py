"""berth's default seccomp profile answers the same under crun (the program berth compiles,
in the bundle's annotation) as under runc (which compiles linux.seccomp itself): EPERM
for what the profile denies, ENOSYS for a syscall newer than the profile, and the
allowed ones work (ADR/0040)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
import trio

from berth.adapters.logs import read_log
from berth.adapters.runc.seccomp_bundle import ANNOTATION
from berth.domain.spec.defaults import DEFAULT_CAPABILITIES
from berth.domain.spec.seccomp import load_default_profile, to_oci

from .runc_harness import BACKENDS, NEEDS_RUNC, Harness, needs_backend, stdout_texts

pytestmark = [
    NEEDS_RUNC,
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 syscall numbers"),
]

#: errno (0: it worked) of: keyctl and unshare (denied by the profile), a syscall number
#: far above any the profile names, and getpid (allowed).
PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(nr, *args):
    ctypes.set_errno(0)
    return 0 if libc.syscall(nr, *args) >= 0 else ctypes.get_errno()
print(errno_of(250, 0, 0), errno_of(272, 0x20000), errno_of(1000), errno_of(39))
"""
EXPECTED = b"1 1 38 0"  # EPERM EPERM ENOSYS ok: runc's answers


def probe_bundle(harness: Harness) -> tuple[str, Path]:
    """A bundle running the host's python (its /usr and /lib, read-only) under berth's
    default seccomp profile for berth's default capabilities."""
    cid, bundle = harness.bundle(["/usr/bin/python3", "-c", PROBE])
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["env"] = ["PATH=/usr/bin:/bin"]
    config["mounts"] += [
        {"destination": d, "source": d, "type": "bind", "options": ["rbind", "ro"]}
        for d in ("/usr", "/lib", "/lib64")
        if Path(d).exists()
    ]
    caps = list(DEFAULT_CAPABILITIES)
    config["linux"]["seccomp"] = to_oci(load_default_profile(), caps, "amd64")
    (bundle / "config.json").write_text(json.dumps(config))
    return cid, bundle


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_default_profile_answers_as_runcs_does(tmp_path: Path, backend: str) -> None:
    needs_backend(backend)
    harness = Harness(tmp_path, backend)
    cid, bundle = probe_bundle(harness)
    try:
        await harness.rt.create(cid, bundle, harness.log_path(cid))
        await harness.rt.start(cid)
        with trio.fail_after(30):
            status = await harness.rt.wait_exited(cid)
        output = stdout_texts(read_log(harness.log_path(cid)))
        assert (status.exit_code, output) == (0, [EXPECTED])
        annotations = json.loads((bundle / "config.json").read_text()).get("annotations", {})
        assert (ANNOTATION in annotations) == (backend == "crun")
    finally:
        await harness.rt.delete(cid, force=True)
    assert not any(harness.leftovers().values())
