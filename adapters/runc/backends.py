"""Which OCI runtime binaries this host can use, and which is the default (ADR/0040).

crun is preferred (it starts a container in about half runc's time and takes a
precompiled seccomp filter); runc is the fallback. crun refuses the hybrid cgroup layout
when the v2 hierarchy holds controllers ("cgroups in hybrid mode not supported, drop all
controllers from cgroupv2"): set-up binds them to v1 hierarchies (`make cgroups`); where
that has not been done, crun is left out and the reason is said once, in berthd's ready
line, rather than as an obscure failure of every container start.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from berth.adapters import cgroups
from berth.domain.errors import BerthError

#: In order of preference: crun, which starts a container in about a third of runc's time
#: (ADR 0040; what had looked like crun losing a terminal's output was the tests' resize
#: racing the docker CLI, ADR 0053); runc by `--runtime runc` or per container.
RUNTIME_NAMES = ("crun", "runc")
#: The runtimes given berth's compiled seccomp program (seccomp_bundle.py) in the bundle.
PRECOMPILED_SECCOMP = frozenset({"crun"})
#: Where each binary is looked for (on PATH).
BINARIES = {"crun": "crun", "runc": "runc"}


@dataclass(frozen=True, slots=True)
class RuntimeChoice:
    """The runtimes containers may ask for (name → binary), the default and why."""

    default: str
    binaries: dict[str, str] = field(default_factory=dict)
    #: Why a runtime preferred to the default is not it ("" when the default is the first).
    reason: str = ""

    def describe(self) -> str:
        """berthd's ready line: `runtime=crun (also runc)`, or `runtime=runc [<why not
        crun>]`."""
        others = ",".join(sorted(set(self.binaries) - {self.default}))
        text = f"runtime={self.default}" + (f" (also {others})" if others else "")
        return text + (f" [{self.reason}]" if self.reason else "")


def hybrid_v2_controllers(mountinfo: Path = cgroups.MOUNTINFO) -> list[str]:
    """The controllers of a v2 hierarchy mounted beside v1 ones (the hybrid layout); []
    on a pure v1 or pure v2 host."""
    found = cgroups.hierarchies(mountinfo, every=True)
    if not any(h.version == 1 for h in found):
        return []
    for hierarchy in found:
        if hierarchy.version == 2:
            try:
                text = (hierarchy.mount / "cgroup.controllers").read_text()
            except OSError:
                return []
            return text.split()
    return []


def unusable_reason(name: str, binary: str, mountinfo: Path = cgroups.MOUNTINFO) -> str:
    """Why the runtime `name` cannot run containers on this host, or "" if it can."""
    path = shutil.which(binary)
    if path is None:
        return f"{name}: {binary} is not on PATH"
    try:
        subprocess.run([path, "--version"], capture_output=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as failed:
        return f"{name}: `{binary} --version` failed: {failed}"
    if name == "crun":
        controllers = hybrid_v2_controllers(mountinfo)
        if controllers:
            listed = " ".join(controllers)
            return (
                f"crun refuses this hybrid cgroup layout: the v2 hierarchy holds {listed}; "
                f"bind them to v1 hierarchies (`make cgroups`, or mount -t cgroup -o <c> "
                f"cgroup /sys/fs/cgroup/<c> for each)"
            )
    return ""


def choose_runtimes(
    wanted: str | None,
    binaries: dict[str, str] | None = None,
    mountinfo: Path = cgroups.MOUNTINFO,
) -> RuntimeChoice:
    """The runtimes that work here and the default: `wanted` (berthd --runtime) if it
    works, else the first that does in RUNTIME_NAMES' order; why any was left out."""
    binaries = dict(BINARIES if binaries is None else binaries)
    if wanted is not None and wanted not in binaries:
        raise BerthError(f"unknown runtime {wanted!r}: one of {', '.join(sorted(binaries))}")
    usable: dict[str, str] = {}
    reasons: list[str] = []
    for name in RUNTIME_NAMES:
        if name not in binaries:
            continue
        why = unusable_reason(name, binaries[name], mountinfo)
        if why:
            reasons.append(why)
        else:
            usable[name] = shutil.which(binaries[name]) or binaries[name]
    order = [n for n in RUNTIME_NAMES if n in usable]
    if not order:
        raise BerthError("no usable OCI runtime: " + "; ".join(reasons))
    preferred = [wanted] if wanted else list(RUNTIME_NAMES)
    default = next((n for n in preferred if n in usable), order[0])
    reason = "; ".join(reasons)  # a runtime left out is said, default or not
    return RuntimeChoice(default, usable, reason)
