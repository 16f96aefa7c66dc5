"""`/_ping`, `/version`, `/info`: what every client asks first."""

from __future__ import annotations

import functools
import os
import platform
import socket
from typing import Any

import trio

from berth.domain.log_config import DRIVERS

from ..service import disk_usage
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


def _info(app: App) -> dict[str, Any]:
    engine = app.engine
    engine.catch_up()
    states = [row["state"] for row in engine.views.container_rows()]
    images = engine.images.list_entries()
    return {
        "ID": "berth",
        "Containers": len(states),
        "ContainersRunning": sum(s in ("running", "restarting") for s in states),
        "ContainersPaused": sum(s == "paused" for s in states),
        "ContainersStopped": sum(s not in ("running", "restarting", "paused") for s in states),
        "Images": len(images),
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "berth snapshots"]],
        "Plugins": {"Volume": [], "Network": ["bridge", "host", "none"], "Log": list(DRIVERS)},
        "MemoryLimit": True,
        "SwapLimit": True,
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
        "OperatingSystem": "berth",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {},
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
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": [],
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
