"""`/_ping`, `/version`, `/info`: what every client asks first."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import platform
import socket
from typing import Any

import trio

from berth.adapters.cgroups import memory_features, unified
from berth.domain.log_config import DRIVERS

from ..service import disk_usage
from ..service.actions import init_binary
from .server import (
    API_VERSION,
    ENGINE_VERSION,
    MIN_API_VERSION,
    App,
    Reply,
    Request,
    Router,
    json_reply,
)

PING_HEADERS = [("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache")]
BERTH_VERSION = "0.1.0"


async def ping(app: App, request: Request) -> Reply:
    return Reply(200, b"OK", "text/plain; charset=utf-8", list(PING_HEADERS))


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


async def version(app: App, request: Request) -> Reply:
    kernel = platform.release()
    details = {
        "ApiVersion": API_VERSION,
        "Arch": _arch(),
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "berth",
        "GoVersion": "python" + platform.python_version(),
        "KernelVersion": kernel,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
    }
    return json_reply(
        {
            "Platform": {"Name": f"berth {BERTH_VERSION}"},
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}],
            "Version": ENGINE_VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "berth",
            "GoVersion": "python" + platform.python_version(),
            "Os": "linux",
            "Arch": _arch(),
            "KernelVersion": kernel,
            "BuildTime": "",
        }
    )


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _os_release() -> tuple[str, str]:
    """The host's PRETTY_NAME and VERSION_ID, as dockerd's OperatingSystem and OSVersion."""
    found: dict[str, str] = {}
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                found[key] = value.strip('"')
    except OSError:
        pass
    return found.get("PRETTY_NAME", "Linux"), found.get("VERSION_ID", "")


def engine_id(host_id: str, root: str) -> str:
    """A stable id for this engine (its host and root), in the shape of dockerd's: twelve
    groups of four base32 characters. Tools that manage several engines tell them apart
    by it."""
    digest = hashlib.sha256(f"{host_id}\0{root}".encode()).digest()[:30]
    text = base64.b32encode(digest).decode()
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


def _security_options() -> list[str]:
    """What every container gets by default: Docker's seccomp profile, and on cgroup v2
    alone a cgroup namespace of its own."""
    return ["name=seccomp,profile=default", *(["name=cgroupns"] if unified() else [])]


def _info(app: App) -> dict[str, Any]:
    engine = app.engine
    engine.catch_up()
    states = [row["state"] for row in engine.views.container_rows()]
    images = engine.images.list_entries()
    operating_system, os_version = _os_release()
    return {
        "ID": engine_id(engine.host_id, str(app.root)),
        "Containers": len(states),
        "ContainersRunning": sum(s in ("running", "restarting") for s in states),
        "ContainersPaused": sum(s == "paused" for s in states),
        "ContainersStopped": sum(s not in ("running", "restarting", "paused") for s in states),
        "Images": len(images),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "berth snapshots"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Log": list(DRIVERS),
        },
        **memory_features(),
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0,
        "SystemTime": engine.now().isoformat().replace("+00:00", "Z"),
        "LoggingDriver": DRIVERS[0],  # as inspect's HostConfig.LogConfig.Type says
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "NEventsListener": 0,
        "KernelVersion": platform.release(),
        "OperatingSystem": operating_system,
        "OSVersion": os_version,
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {
                "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}
            },
            "Mirrors": [],
        },
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "DockerRootDir": str(app.root),
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": socket.gethostname(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": {name: {"path": name} for name in app.engine.runtime_names.names},
        "DefaultRuntime": app.engine.runtime_names.default,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": os.path.basename(init_binary()),
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": _security_options(),
        "Warnings": None,
    }


async def info(app: App, request: Request) -> Reply:
    return json_reply(await trio.to_thread.run_sync(_info, app))


async def system_df(app: App, request: Request) -> Reply:
    wanted = request.texts("type") or disk_usage.DF_TYPES
    disk_usage.check_df_types(wanted)
    volumes = await app.runner.volumes.usage() if "volume" in wanted else None
    listing = await trio.to_thread.run_sync(app.engine.container_listing, True)
    sizes = functools.partial(disk_usage.system_df, app.images, listing, volumes, wanted)
    return json_reply(await trio.to_thread.run_sync(sizes))


def register(router: Router) -> None:
    router.add("GET", "/system/df", system_df)
    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
