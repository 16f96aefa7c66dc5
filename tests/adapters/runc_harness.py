"""A harness for runc under conmon: busybox bundles, and what a test left behind (runc
containers, conmon processes, mounts, monitor dirs and cgroups)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from berth.adapters import cgroups
from berth.adapters.logs import LogLine
from berth.adapters.runc import Runtime
from berth.adapters.runc.backends import unusable_reason

RUNC = shutil.which("runc") or "/usr/sbin/runc"
NEEDS_RUNC = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("conmon") is None, reason="needs root, runc and conmon"
)
_counter = itertools.count()
REPO = Path(__file__).resolve().parents[2]


def new_id() -> str:
    return f"berth-t{os.getpid()}-{next(_counter)}"


def conmon_pids_with(ids: list[str]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and any(i.encode() in argv for i in ids):
            found.append(int(entry.name))
    return found


def monitor_cgroups(cid: str) -> list[Path]:
    """The cgroup directories of this container's monitor that exist, in any hierarchy."""
    return [h.mount / "berth" / f"conmon-{cid}" for h in cgroups.hierarchies()
            if (h.mount / "berth" / f"conmon-{cid}").is_dir()]  # fmt: skip


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


#: The OCI runtimes the real adapter is run with (ADR/0040).
BACKENDS = ("runc", "crun")


def needs_backend(backend: str) -> None:
    """Skip where this host cannot run `backend` (missing, or crun on a hybrid cgroup
    layout that set-up has not fixed)."""
    why = unusable_reason(backend, backend)
    if why:
        pytest.skip(why)


class Harness:
    def __init__(self, tmp_path: Path, backend: str = "runc") -> None:
        self.tmp_path = tmp_path
        self.state_dir = tmp_path / "run"
        self.backend = backend
        self.binary = shutil.which(backend) or backend
        self.rt = self.reopen()
        self.ids: list[str] = []

    def reopen(self) -> Runtime:
        """The runtime as a new engine on the same state finds it."""
        return Runtime(self.state_dir, runtimes={self.backend: self.binary},
                       default_runtime=self.backend)  # fmt: skip

    def bundle(self, args: list[str], *, memory_limit: int | None = None) -> tuple[str, Path]:
        """A fresh id and a bundle whose rootfs is busybox."""
        cid = new_id()
        self.ids.append(cid)
        bundle = self.tmp_path / cid
        rootfs = bundle / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
        for applet in ("sh", "echo", "sleep", "true", "cat", "printf"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        subprocess.run([RUNC, "spec", "--bundle", str(bundle)], check=True)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["args"] = args
        config["process"]["terminal"] = False
        config["root"] = {"path": str(rootfs), "readonly": False}
        config["hostname"] = cid[-12:]
        if memory_limit is not None:
            config["linux"].setdefault("resources", {})["memory"] = {
                "limit": memory_limit,
                "swap": memory_limit,
            }
        (bundle / "config.json").write_text(json.dumps(config))
        return cid, bundle

    def log_path(self, cid: str) -> Path:
        return self.tmp_path / "logs" / f"{cid}.log"

    async def run(self, args: list[str], **kw: int) -> tuple[str, Path]:
        cid, bundle = self.bundle(args, **kw)
        await self.rt.create(cid, bundle, self.log_path(cid))
        await self.rt.start(cid)
        return cid, bundle

    def leftovers(self) -> dict[str, object]:
        runc_root = self.state_dir / self.backend
        listed = []
        if runc_root.exists():
            out = subprocess.run(
                [self.binary, "--root", str(runc_root), "list", "-q"],
                capture_output=True,
                check=True,
            ).stdout.decode()
            listed = [i for i in out.split() if i in self.ids]
        monitor_dirs = [i for i in self.ids if (self.state_dir / "monitor" / i).exists()]
        return {
            "runc": listed,
            "conmon": conmon_pids_with(self.ids),
            "mounts": mounts_under(self.tmp_path),
            "monitor_dirs": monitor_dirs,
            "monitor_cgroups": [str(d) for i in self.ids for d in monitor_cgroups(i)],
        }

    def force_clean(self) -> None:
        runc_root = self.state_dir / self.backend
        for cid in self.ids:
            subprocess.run(
                [self.binary, "--root", str(runc_root), "delete", "--force", cid],
                capture_output=True,
            )
        deadline = time.monotonic() + 5
        while conmon_pids_with(self.ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in conmon_pids_with(self.ids):  # only conmons of this test's ids
            os.kill(pid, signal.SIGKILL)
        cgroups.remove([d for i in self.ids for d in monitor_cgroups(i)])


def stdout_texts(lines: list[LogLine]) -> list[bytes]:
    return [line.text for line in lines if line.stream == "stdout"]
