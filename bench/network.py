"""Network benchmark: what the bridge costs a container, and the port forwarder's rate.

In one run, with the engine in-process (as bench/run.py):
- `none_ms` / `bridge_ms`: median create → start → wait → remove of `/bin/busybox true`
  with `--network none` and with the default bridge (interleaved, so that drift on this
  shared machine hits both alike); `setup_overhead_ms` is their difference;
- `direct_mb_s` / `forward_mb_s`: a 100 MB transfer from a container's `nc` to the host,
  once straight to the container's address and once through a port published on
  127.0.0.1; `forward_ratio` is forward over direct.
Traffic goes only to 127.0.0.1 and to the container's own namespace. Last line: JSON.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.adapters.network import NetworkLinks  # noqa: E402
from berth.adapters.runc import Runtime  # noqa: E402
from berth.domain.cause import Actor, ActorKind  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.service.images import ImageService  # noqa: E402
from berth.runtime.service.network_files import default_bridge_name  # noqa: E402
from berth.runtime.service.runner import Runner, running  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

ACTOR = Actor(ActorKind.API, uid=0, pid=os.getpid())
RUNS = 15
TRANSFER_MB = 100
CHUNK = 1 << 20


async def cycle(runner: Runner, network: str) -> float:
    start = time.perf_counter()
    body = {"Image": "busybox", "Cmd": ["/bin/busybox", "true"]}
    body["HostConfig"] = {"NetworkMode": network}  # type: ignore[assignment]
    created = await runner.create(body, None, ACTOR)
    await runner.start(created.id, ACTOR)
    code = await runner.wait(created.id)
    await runner.remove(created.id, ACTOR)
    assert code == 0
    return (time.perf_counter() - start) * 1000


def receive_all(address: str, port: int) -> float:
    """Connect to the container's `nc` and read until it closes; MB/s."""
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = socket.create_connection((address, port), timeout=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    received = 0
    start = time.perf_counter()
    with conn:
        while chunk := conn.recv(CHUNK):
            received += len(chunk)
    elapsed = time.perf_counter() - start
    if received != TRANSFER_MB * CHUNK:
        raise RuntimeError(f"received {received} bytes of {TRANSFER_MB * CHUNK}")
    return received / CHUNK / elapsed


async def transfer(runner: Runner, through_forwarder: bool) -> float:
    """One 100 MB transfer from a fresh container serving it with `nc -l`."""
    serve = f"dd if=/dev/zero bs=1048576 count={TRANSFER_MB} 2>/dev/null | nc -l -p 5000"
    created = await runner.create(
        {
            "Image": "busybox",
            "Cmd": ["sh", "-c", serve],
            "ExposedPorts": {"5000/tcp": {}},
            "HostConfig": {"PortBindings": {"5000/tcp": [{"HostIp": "127.0.0.1"}]}},
        },
        None,
        ACTOR,
    )
    await runner.start(created.id, ACTOR)
    try:
        settings: dict[str, Any] = runner.engine.inspect_container(created.id)["NetworkSettings"]
        if through_forwarder:
            address, port = "127.0.0.1", int(settings["Ports"]["5000/tcp"][0]["HostPort"])
        else:
            address, port = settings["IPAddress"], 5000
        return await trio.to_thread.run_sync(receive_all, address, port)
    finally:
        await runner.remove(created.id, ACTOR, force=True)


async def main_async(work: Path) -> dict[str, float]:
    root = work / "berth"
    engine = Engine(root, sole_writer=True)  # as berthd, which holds the root lock
    images = ImageService(engine)
    await images.import_rootfs(busybox_tarball(work / "bb.tar"), "busybox:latest", ACTOR)
    try:
        async with running(engine, images, Runtime(root / "run")) as runner:
            await cycle(runner, "none")
            await cycle(runner, "bridge")  # creates the bridge: not part of a container's cost
            none_times, bridge_times = [], []
            for _ in range(RUNS):
                none_times.append(await cycle(runner, "none"))
                bridge_times.append(await cycle(runner, "bridge"))
            direct = [await transfer(runner, False) for _ in range(3)]
            forward = [await transfer(runner, True) for _ in range(3)]
    finally:
        engine.close()
        await NetworkLinks().remove_bridge(default_bridge_name(root))
    figures = {
        "none_ms": round(statistics.median(none_times), 1),
        "bridge_ms": round(statistics.median(bridge_times), 1),
        "direct_mb_s": round(statistics.median(direct), 1),
        "forward_mb_s": round(statistics.median(forward), 1),
    }
    figures["setup_overhead_ms"] = round(figures["bridge_ms"] - figures["none_ms"], 1)
    figures["forward_ratio"] = round(figures["forward_mb_s"] / figures["direct_mb_s"], 2)
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-network-") as tmp:
        figures = trio.run(main_async, Path(tmp))
    for key, value in figures.items():
        print(f"{key:20s} {value}", file=sys.stderr)
    met = figures["setup_overhead_ms"] <= 10 and figures["forward_ratio"] >= 0.5
    print(
        f"targets (overhead <= 10 ms, forwarding >= 50% of direct): {'met' if met else 'MISSED'}",
        file=sys.stderr,
    )
    print(json.dumps({**figures, "targets_met": met}))


if __name__ == "__main__":
    main()
