"""build_spec's config.json run by the real runc on a busybox root filesystem."""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.capabilities import bounding_capabilities
from berth.domain.config import Config, HostConfig
from berth.domain.spec import HostFacts, ResolvedUser, build_spec, resolve_user

RUNC = shutil.which("runc") or "/usr/sbin/runc"
BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh",
    "cat",
    "grep",
    "id",
    "hostname",
    "sleep",
    "true",
    "head",
    "touch",
    "echo",
    "wc",
    "mknod",
    "mkdir",
    "unshare",
)
DEFAULT_CAPEFF = 0x00000000A80425FB
CAP_NET_ADMIN_BIT = 1 << 12
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(RUNC) or not os.path.exists(BUSYBOX),
    reason="needs root, runc and busybox",
)

_counter = itertools.count()
UNIFIED = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
CGROUP_PARENT = f"/berth-test-{os.getpid()}"


@pytest.fixture(scope="module", autouse=True)
def _remove_parent_cgroup() -> Iterator[None]:
    """runc removes each container's cgroup; the parent it created is ours to remove."""
    yield
    root = Path("/sys/fs/cgroup")
    candidates = [root / CGROUP_PARENT.strip("/")]
    candidates += [c / CGROUP_PARENT.strip("/") for c in root.iterdir() if c.is_dir()]
    left = []
    for path in candidates:
        if path.is_dir():
            path.rmdir()
            left.append(path)
    assert all(not p.exists() for p in left)


def _facts() -> HostFacts:
    return HostFacts(
        rlimit_hard={"RLIMIT_NOFILE": resource.getrlimit(resource.RLIMIT_NOFILE)[1]},
        cgroup_parent=CGROUP_PARENT,
        cgroup_v2=UNIFIED,
        swap_limit=UNIFIED or os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        capabilities=bounding_capabilities(),
    )


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    for d in ("etc", "proc", "sys", "dev", "tmp", "home/app"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


class Runner:
    def __init__(self, tmp_path: Path, rootfs: Path) -> None:
        self.tmp_path = tmp_path
        self.rootfs = rootfs
        self.ids: list[str] = []

    def spec(self, cmd: list[str], user: str = "", **host: Any) -> tuple[str, dict[str, Any]]:
        cid = f"berth-test-{os.getpid()}-{next(_counter)}"
        spec = build_spec(
            container_id=cid,
            config=Config(cmd=tuple(cmd), user=user),
            host_config=HostConfig(**host),
            rootfs=str(self.rootfs.resolve()),
            hostname="spec-host",
            user=resolve_user(user, PASSWD, GROUP),
            facts=_facts(),
        )
        return cid, spec

    def run(
        self, cmd: list[str], user: str = "", **host: Any
    ) -> subprocess.CompletedProcess[bytes]:
        cid, spec = self.spec(cmd, user, **host)
        return self.run_spec(cid, spec)

    def run_spec(self, cid: str, spec: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
        bundle = self.tmp_path / f"bundle-{cid}"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(spec))
        self.ids.append(cid)
        try:
            return subprocess.run(
                [RUNC, "run", "--bundle", str(bundle), cid],
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            subprocess.run([RUNC, "delete", "-f", cid], capture_output=True, timeout=30)


def _runc_ids() -> set[str]:
    out = subprocess.run([RUNC, "list", "-q"], capture_output=True, timeout=30, check=True)
    return set(out.stdout.decode().split())


@pytest.fixture
def runner(tmp_path: Path, rootfs: Path) -> Iterator[Runner]:
    r = Runner(tmp_path, rootfs)
    yield r
    leftovers = _runc_ids() & set(r.ids)
    for cid in leftovers:
        subprocess.run([RUNC, "delete", "-f", cid], capture_output=True, timeout=30)
    assert not leftovers, f"runc containers left behind: {leftovers}"
    mounts = Path("/proc/self/mounts").read_text()
    assert str(tmp_path) not in mounts


def _status(out: bytes) -> dict[str, str]:
    fields = {}
    for line in out.decode().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_default_capabilities_nnp_and_seccomp(runner: Runner) -> None:
    res = runner.run(["cat", "/proc/self/status"])
    assert res.returncode == 0, res.stderr
    status = _status(res.stdout)
    assert int(status["CapEff"], 16) == DEFAULT_CAPEFF
    assert int(status["CapBnd"], 16) == DEFAULT_CAPEFF
    assert int(status["CapInh"], 16) == 0
    assert int(status["CapEff"], 16) & CAP_NET_ADMIN_BIT == 0
    assert status["NoNewPrivs"] == "0"  # dockerd's default
    assert status["Seccomp"] == "2"


def test_cap_add_net_admin_shows_in_capeff(runner: Runner) -> None:
    res = runner.run(["cat", "/proc/self/status"], cap_add=("NET_ADMIN",))
    assert res.returncode == 0, res.stderr
    assert int(_status(res.stdout)["CapEff"], 16) == DEFAULT_CAPEFF | CAP_NET_ADMIN_BIT


def test_cap_drop_all_leaves_nothing(runner: Runner) -> None:
    res = runner.run(["cat", "/proc/self/status"], cap_drop=("ALL",))
    assert res.returncode == 0, res.stderr
    assert int(_status(res.stdout)["CapEff"], 16) == 0


def test_seccomp_unconfined(runner: Runner) -> None:
    res = runner.run(["cat", "/proc/self/status"], security_opt=("seccomp=unconfined",))
    assert res.returncode == 0, res.stderr
    assert _status(res.stdout)["Seccomp"] == "0"


def test_seccomp_profile_is_enforced(runner: Runner) -> None:
    from berth.domain.spec import load_default_profile

    profile = load_default_profile()
    always = profile["rules"][0]
    always["allow"] = [n for n in always["allow"] if n not in ("mkdir", "mkdirat")]
    cid, spec = runner.spec(["mkdir", "/tmp/x"])
    strict = build_spec(
        container_id=cid,
        config=Config(cmd=("mkdir", "/tmp/x")),
        host_config=HostConfig(),
        rootfs=spec["root"]["path"],
        hostname="spec-host",
        user=ResolvedUser(),
        facts=_facts(),
        seccomp_profile=profile,
    )
    res = runner.run_spec(cid, strict)
    assert res.returncode != 0
    assert b"Operation not permitted" in res.stderr
    ok = runner.run(["mkdir", "/tmp/x"])
    assert ok.returncode == 0, ok.stderr


def test_unshare_needs_cap_sys_admin(runner: Runner) -> None:
    denied = runner.run(["unshare", "-u", "true"])
    assert denied.returncode != 0
    allowed = runner.run(["unshare", "-u", "true"], cap_add=("SYS_ADMIN",))
    assert allowed.returncode == 0, allowed.stderr


MASK_PROBE = (
    "for f in /proc/kcore /proc/interrupts /proc/timer_list; do"
    " if [ -e $f ]; then cat $f 2>/dev/null | wc -c; else echo absent; fi; done;"
    " grep -c ' /proc/interrupts ' /proc/mounts; echo done"
)


def test_kcore_and_other_proc_files_are_masked(runner: Runner) -> None:
    # This VM has no /proc/kcore at all; /proc/interrupts exists on every host and is
    # masked the same way (a /dev/null bind), so it proves the mask is applied.
    assert Path("/proc/interrupts").read_text()
    res = runner.run(["sh", "-c", MASK_PROBE])
    assert res.returncode == 0, res.stderr
    kcore, interrupts, timer_list, mounted, done = res.stdout.split()
    assert kcore in (b"0", b"absent")
    assert kcore == (b"0" if Path("/proc/kcore").exists() else b"absent")
    assert interrupts == b"0"
    assert timer_list in (b"0", b"absent")
    assert mounted == b"1"
    assert done == b"done"


def test_readonly_rootfs_refuses_writes(runner: Runner, rootfs: Path) -> None:
    res = runner.run(["touch", "/newfile"], readonly_rootfs=True)
    assert res.returncode != 0
    assert b"Read-only file system" in res.stderr
    assert not (rootfs / "newfile").exists()
    ok = runner.run(["touch", "/newfile"])
    assert ok.returncode == 0, ok.stderr
    assert (rootfs / "newfile").exists()


def test_hostname(runner: Runner) -> None:
    res = runner.run(["hostname"])
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"spec-host\n"


def test_user_app_resolved_from_passwd(runner: Runner) -> None:
    res = runner.run(["id"], user="app")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert out.startswith("uid=1000(app) gid=1000(app)")
    assert "2000(extra)" in out


def test_exit_code_propagates(runner: Runner) -> None:
    res = runner.run(["sh", "-c", "exit 3"])
    assert res.returncode == 3


def test_nofile_rlimit_capped_by_hard_limit(runner: Runner) -> None:
    res = runner.run(["sh", "-c", "ulimit -n; ulimit -Hn"])
    assert res.returncode == 0, res.stderr
    expected = min(1048576, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    assert res.stdout.split() == [str(expected).encode()] * 2


def test_memory_and_pids_limits_in_cgroup(runner: Runner) -> None:
    if UNIFIED:
        script = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    else:
        script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    res = runner.run(["sh", "-c", script], memory=64 * 1024 * 1024, pids_limit=42)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(64 * 1024 * 1024).encode(), b"42"]


def test_shm_size(runner: Runner) -> None:
    res = runner.run(["sh", "-c", "grep ' /dev/shm ' /proc/mounts"], shm_size=8 * 1024 * 1024)
    assert res.returncode == 0, res.stderr
    assert b"size=8192k" in res.stdout
    assert b"nosuid,nodev,noexec" in res.stdout


def test_device_cgroup_denies_other_devices(runner: Runner) -> None:
    # /dev/null is allowed; a loop device node (block 7:0), even when created with
    # CAP_MKNOD, cannot be opened.
    res = runner.run(["sh", "-c", "echo hi > /dev/null && mknod /tmp/loop b 7 0 && cat /tmp/loop"])
    assert res.returncode != 0
    assert b"can't open '/tmp/loop': Operation not permitted" in res.stderr, res.stderr


def test_privileged_gets_every_host_capability_and_no_masks(runner: Runner) -> None:
    res = runner.run(
        ["sh", "-c", "cat /proc/self/status; head -c 1 /proc/interrupts | wc -c"],
        privileged=True,
    )
    assert res.returncode == 0, res.stderr
    status = _status(res.stdout)
    bnd = int(
        next(
            li for li in Path("/proc/self/status").read_text().splitlines() if "CapBnd" in li
        ).split()[1],
        16,
    )
    assert int(status["CapEff"], 16) == bnd
    assert status["Seccomp"] == "0"
    assert res.stdout.split()[-1] == b"1"  # /proc/interrupts is not masked


def test_cpu_quota_and_memory_swap_in_cgroup(runner: Runner) -> None:
    mib = 1024 * 1024
    if UNIFIED:
        script = "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.swap.max"
        expected = [b"50000", b"100000", str(32 * mib).encode()]
    else:
        script = (
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
            " /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
        )
        expected = [b"50000", b"100000", str(96 * mib).encode()]
    res = runner.run(
        ["sh", "-c", script], nano_cpus=500_000_000, memory=64 * mib, memory_swap=96 * mib
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == expected
