"""A process's own cgroup, apart from the engine's, in every cgroup hierarchy of the host.

conmon is moved into one of these before it forks (ADR/0008), so that a service manager
killing berthd's cgroup (systemd `KillMode=control-group`), or an OOM kill in berthd's
memory cgroup, never takes the monitors with it. Works on cgroup v1, v2 and the hybrid
layout (v1 controllers, `name=systemd`, and an empty v2 hierarchy side by side).

The v1 `cpuset` hierarchy is left alone: a new cpuset cgroup has no CPUs until it is
configured, and a monitor needs no CPU pinning. Every other hierarchy is joined.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from berth.domain.errors import BerthError, InvalidParameter

MOUNTINFO = Path("/proc/self/mountinfo")
#: v1 controllers whose new cgroups need configuring before a process may join them.
SKIPPED_CONTROLLERS = frozenset({"cpuset"})
#: cgroup v1 super options that are not controllers.
V1_MOUNT_OPTIONS = frozenset(
    {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods"}
)
#: How long `remove` retries a cgroup the kernel still reports busy (an exiting process).
REMOVE_RETRY_S = 1.0


class CgroupError(BerthError):
    """A process could not be moved; `joined` are the cgroups made (or joined) before."""

    http_status = 500

    def __init__(self, message: str, joined: list[Path]) -> None:
        super().__init__(message)
        self.joined = joined


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One mounted cgroup hierarchy: v2, or v1 with its controllers (or `name=`)."""

    mount: Path
    version: int
    controllers: frozenset[str]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return field.encode().decode("unicode_escape")


def hierarchies(mountinfo: Path = MOUNTINFO, *, every: bool = False) -> list[Hierarchy]:
    """The host's cgroup hierarchies, each once, mounted at their root; the v1 cpuset
    hierarchy too when `every` (runc makes the containers' own cgroups there)."""
    found: dict[str, Hierarchy] = {}
    for line in mountinfo.read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        before = fields.split(" ")
        after = tail.split(" ")
        if len(before) < 5 or len(after) < 3 or before[3] != "/":
            continue  # not a hierarchy's root (a bind mount of a sub-cgroup)
        fstype, super_options = after[0], after[2]
        if fstype == "cgroup2":
            key = "v2"
            hierarchy = Hierarchy(Path(_unescape(before[4])), 2, frozenset())
        elif fstype == "cgroup":
            options = super_options.split(",")
            controllers = frozenset(
                o for o in options
                if o.startswith("name=") or ("=" not in o and o not in V1_MOUNT_OPTIONS)
            )  # fmt: skip
            if not controllers or (controllers & SKIPPED_CONTROLLERS and not every):
                continue
            key = ",".join(sorted(controllers))
            hierarchy = Hierarchy(Path(_unescape(before[4])), 1, controllers)
        else:
            continue
        found.setdefault(key, hierarchy)
    return list(found.values())


_host_hierarchies: list[Hierarchy] = []


def host_hierarchies() -> list[Hierarchy]:
    """`hierarchies()` of this host, read once per process: /proc/self/mountinfo grows
    with every container's mounts (some 350 lines with ten running) and took 3 to 34 ms
    to read here, once per monitor placed, removed or asked whether it is frozen. The
    hierarchies themselves stay mounted where they are while the engine runs."""
    if not _host_hierarchies:
        _host_hierarchies[:] = hierarchies()
    return _host_hierarchies


def unified() -> bool:
    """Whether this host has cgroup v2 alone (moby's cgroups.Mode() Unified): not v1, nor
    the hybrid layout of v1 controllers beside an empty v2 hierarchy."""
    found = host_hierarchies()
    return bool(found) and all(h.version == 2 for h in found)


def memory_features() -> dict[str, bool]:
    """What `docker info` says the memory controller can limit (moby's sysinfo): on v1
    by the files of its hierarchy, on v2 alone swap only (kernel memory and the OOM
    killer's switch are v1's)."""
    if unified():
        return {"MemoryLimit": True, "SwapLimit": True, "KernelMemory": False,
                "KernelMemoryTCP": False, "OomKillDisable": False}  # fmt: skip
    memory = next((h.mount for h in host_hierarchies() if "memory" in h.controllers), None)
    has = (lambda name: (memory / name).exists()) if memory else (lambda name: False)
    return {
        "MemoryLimit": memory is not None,
        "SwapLimit": has("memory.memsw.limit_in_bytes"),
        "KernelMemory": has("memory.kmem.limit_in_bytes"),
        "KernelMemoryTCP": has("memory.kmem.tcp.limit_in_bytes"),
        "OomKillDisable": has("memory.oom_control"),
    }


def check_relative(path: str) -> str:
    """A cgroup path below each hierarchy's root: absolute-looking, no `.`/`..` parts."""
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise InvalidParameter(f"invalid cgroup path {path!r}")
    return "/".join(parts)


def create_and_join(relative: str, pid: int, mountinfo: Path = MOUNTINFO) -> list[Path]:
    """Create `<hierarchy>/<relative>` in every hierarchy and move `pid` into it.

    Answers the directories created or joined (for `remove`). On a failure the ones made
    so far are left for the caller to remove (the pid may already be in some of them).
    """
    joined: list[Path] = []
    rel = check_relative(relative)
    try:
        found = host_hierarchies() if mountinfo == MOUNTINFO else hierarchies(mountinfo)
        for hierarchy in found:
            directory = hierarchy.mount / rel
            directory.mkdir(mode=0o755, parents=True, exist_ok=True)
            joined.append(directory)
            with open(directory / "cgroup.procs", "w") as procs:
                procs.write(str(pid))
    except OSError as error:
        raise CgroupError(f"cannot move process {pid} to cgroup {rel}: {error}", joined) from error
    return joined


def remove(directories: list[Path]) -> list[Path]:
    """rmdir each cgroup; answers those still busy after REMOVE_RETRY_S (none normally).

    A missing directory is fine. The kernel refuses (EBUSY) while a process is in one,
    which also covers a process that has just exited and is not yet fully released.
    """
    left = []
    deadline = time.monotonic() + REMOVE_RETRY_S
    for directory in directories:
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as error:
                if error.errno != errno.EBUSY or time.monotonic() >= deadline:
                    left.append(directory)
                    break
                time.sleep(0.01)
    return left


def members(directory: Path) -> list[int]:
    """The pids in one cgroup (empty if it is gone)."""
    with contextlib.suppress(FileNotFoundError):
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    return []


#: How many rounds `kill_all` signals a cgroup whose processes keep forking.
KILL_ROUNDS = 50
#: The freezer's control file and its thawed value, in v1 and v2.
_THAW = (("freezer.state", "THAWED"), ("cgroup.freeze", "0"))


def frozen(pid: int) -> bool:
    """Whether process `pid`'s cgroup is frozen (v1 freezer or v2 `cgroup.freeze`); False
    for a process that is gone."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return False
    places = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else ["v2"]:
            places[controller] = path.lstrip("/")
    for hierarchy in _freezers():
        if hierarchy.version == 1:
            control, thawed = hierarchy.mount / places.get("freezer", "") / _THAW[0][0], "THAWED"
        elif "v2" in places:
            control, thawed = hierarchy.mount / places["v2"] / _THAW[1][0], "0"
        else:
            continue
        with contextlib.suppress(OSError):
            if control.read_text().strip() != thawed:
                return True
    return False


def _freezers() -> list[Hierarchy]:
    """The hierarchies that can freeze: v1 `freezer`, v2."""
    return [h for h in host_hierarchies() if h.version == 2 or "freezer" in h.controllers]


def children(parent: str, mountinfo: Path = MOUNTINFO) -> list[str]:
    """The cgroups directly below `parent` in any hierarchy, as paths relative to a root."""
    rel = check_relative(parent)
    found: set[str] = set()
    for hierarchy in hierarchies(mountinfo, every=True):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for entry in os.scandir(hierarchy.mount / rel):
                if entry.is_dir(follow_symlinks=False):
                    found.add(f"{rel}/{entry.name}")
    return sorted(found)


def kill_all(relative: str, mountinfo: Path = MOUNTINFO) -> int:
    """SIGKILL every process in cgroup `relative` (every hierarchy) until none is left;
    answers how many were killed. For what is left behind by a runtime that lost track
    of a container: nothing in it may live."""
    rel = check_relative(relative)
    directories = [h.mount / rel for h in hierarchies(mountinfo, every=True)]
    for directory in directories:
        for control, thawed in _THAW:
            # A frozen process keeps a SIGKILL pending until it is thawed.
            with contextlib.suppress(OSError):
                if (directory / control).exists():
                    (directory / control).write_text(thawed)
    killed: set[int] = set()
    for _ in range(KILL_ROUNDS):
        pids = {pid for directory in directories for pid in members(directory)}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed |= pids
        time.sleep(0.01)
    return len(killed)


def remove_everywhere(relative: str, mountinfo: Path = MOUNTINFO) -> list[Path]:
    """rmdir cgroup `relative` in every hierarchy; answers those still busy."""
    rel = check_relative(relative)
    return remove([h.mount / rel for h in hierarchies(mountinfo, every=True)])
