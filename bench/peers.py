"""Peers benchmark: berth against bare runc, dockerd and podman, in one run, one image.

Usage: `make bench-peers` (installs the peers first), or
`.venv/bin/python bench/peers.py [--runtime runc|crun]`: the runtime berthd is started
with (`berthd --runtime`, when berthd has it), which the bare runs and the in-process
engine use too. dockerd (Debian's docker.io) and podman are measured when installed.

A registry the bench starts on 127.0.0.1 serves the image every engine runs (berth's
busybox root filesystem, one layer) and a 5-layer, 200 MB image of random data for the
cold pulls. In the same run, medians and minimums of RUNS (after WARM runs) of:
- `bare_default`: `RUNTIME run` of the runtime's default spec (`RUNTIME spec`);
- `bare_berth_spec`: `RUNTIME run` of the config.json berthd gave the same container;
- `engine_cycle`: berth's create → start → wait → remove in-process (bench/run.py);
- `docker_berthd`, `berth_berthd`, `docker_dockerd`, `podman`: `run --rm --network none
  IMAGE /bin/busybox true` through each CLI;
then 50 concurrent `run -d` through each engine (starts per second), `docker ps -a` with
1,000 exited containers on berthd and dockerd, a cold pull of the 200 MB image (best of
3) by berthd, dockerd, podman and `skopeo copy … dir:`, and berthd's RSS idle and with
100 running containers. Everything started is ended by its pid and removed. The last
line is one JSON object: every figure, and each target met (true), missed (false) or not
measured (null).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import gzip
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peer_cycles import bare_berth_spec, bare_default, engine_cycles  # noqa: E402
from bench.peer_engines import (  # noqa: E402
    BIN,
    Peer,
    berthd_peer,
    dockerd_peer,
    installed,
    podman_peer,
    rss_kb,
)
from bench.pull import LAYERS, random_layer  # noqa: E402
from bench.report import report  # noqa: E402
from tests.fixtures.images import make_image  # noqa: E402
from tests.fixtures.layers import LAYER_MEDIA_TYPES, Blob, Layer, sha256  # noqa: E402
from tests.fixtures.registry import run_registry  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

RUNS = 15
WARM = 2
CONCURRENT = 50
EXITED = 1000
RUNNING = 100
PS_RUNS = 7
PULLS = 3
TRUE = ["/bin/busybox", "true"]
SLEEP = ["/bin/busybox", "sleep", "600"]


def timed_ms(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, stdin=subprocess.DEVNULL)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.decode().strip()}")
    return elapsed


def series(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    for _ in range(WARM):
        timed_ms(command, env)
    return summary([timed_ms(command, env) for _ in range(RUNS)])


def summary(times: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(times), 1), "min": round(min(times), 1)}


def run_rm(peer: Peer, image: str) -> dict[str, float]:
    return series(peer.run_argv("--rm", "--network", "none", image, *TRUE), peer.env)


def berth_run_rm(peer: Peer, image: str) -> dict[str, float]:
    command = [str(BIN / "berth"), "-H", f"unix://{peer.socket}", "run", "--rm"]
    return series([*command, "--network", "none", image, *TRUE])


def detached(peer: Peer, image: str, count: int, command: list[str]) -> tuple[float, list[str]]:
    """`count` concurrent `run -d`: the seconds until all answered, and the ids.

    Their output goes to files, not pipes: a monitor the CLI leaves behind (podman's
    conmon) may hold a pipe open long after the CLI has answered.
    """
    argv = peer.run_argv("-d", "--network", "none", image, *command)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        started = [
            subprocess.Popen(argv, stdout=out, stderr=err, env=peer.env, stdin=subprocess.DEVNULL)
            for _ in range(count)
        ]
        codes = [process.wait(timeout=600) for process in started]
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if any(codes):
            raise RuntimeError(f"{peer.name} run -d: {err.read().decode().strip()}")
        return elapsed, out.read().decode().split()


def remove(peer: Peer, ids: list[str]) -> None:
    for chunk in range(0, len(ids), 100):
        peer.call("rm", "-f", *ids[chunk : chunk + 100])


def concurrent_starts(peer: Peer, image: str) -> float:
    elapsed, ids = detached(peer, image, CONCURRENT, SLEEP)
    remove(peer, ids)
    return round(CONCURRENT / elapsed, 1)


def ps_with_exited(peer: Peer, image: str) -> dict[str, float]:
    """`docker ps -a` once EXITED containers ran `true` (made through the API, 8 at once)."""
    import docker  # docker-py: 1,000 CLI processes would take minutes

    socket = peer.cli[peer.cli.index("-H") + 1]
    client = docker.APIClient(base_url=socket, version="1.41", timeout=120)
    host_config = client.create_host_config(network_mode="none")

    def one(_: int) -> None:
        made = client.create_container(image, TRUE, host_config=host_config)
        client.start(made["Id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(EXITED)))
    while client.containers(filters={"status": "running"}):
        time.sleep(0.5)
    command = peer.argv("ps", "-a")
    try:
        return summary([timed_ms(command, peer.env) for _ in range(PS_RUNS)])
    finally:
        peer.call("container", "prune", "-f")
        client.close()


def cold_pulls(
    pull: Callable[[int], list[str]], env: dict[str, str] | None, after: Callable[[int], None]
) -> dict[str, Any]:
    times = []
    for run in range(PULLS):
        start = time.perf_counter()
        done = subprocess.run(pull(run), capture_output=True, env=env, timeout=900)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode().strip())
        after(run)
    return {"best_s": round(min(times), 3), "runs_s": [round(t, 3) for t in times]}


def engine_pull(peer: Peer, reference: str) -> dict[str, Any]:
    return cold_pulls(
        lambda _: peer.argv("pull", *peer.pull_extra, reference),
        peer.env,
        lambda _: peer.call("rmi", reference) and None,
    )


def skopeo_pull(work: Path, reference: str) -> dict[str, Any]:
    return cold_pulls(
        lambda run: ["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                     f"docker://{reference}", f"dir:{work / f'skopeo-{run}'}"],
        None,
        lambda run: subprocess.run(["rm", "-rf", str(work / f"skopeo-{run}")], check=True) and None,
    )  # fmt: skip


def rss_with_running(peer: Peer, image: str) -> int:
    ids: list[str] = []
    try:
        for _ in range(RUNNING // 25):
            ids += detached(peer, image, 25, SLEEP)[1]
        time.sleep(2)
        return rss_kb(peer.pids)
    finally:
        remove(peer, ids)


def busybox_layer_of(work: Path) -> Layer:
    raw = busybox_tarball(work / "busybox.tar").read_bytes()
    blob = Blob(gzip.compress(raw, compresslevel=6, mtime=0), LAYER_MEDIA_TYPES[("oci", "gzip")])
    return Layer(blob, sha256(raw), raw)


@contextlib.contextmanager
def optional(
    enabled: bool, start: Callable[[], contextlib.AbstractContextManager[Peer]]
) -> Iterator[Peer | None]:
    if not enabled:
        yield None
        return
    with start() as peer:
        yield peer


class Figures(dict[str, Any]):
    """Every figure, also printed on stderr as soon as it is measured: a run takes minutes."""

    def __setitem__(self, key: str, value: Any) -> None:
        print(f"measured {key}: {value}", file=sys.stderr, flush=True)
        super().__setitem__(key, value)


def measure(work: Path, runtime: str) -> dict[str, Any]:
    figures = Figures(runtime=runtime)
    (work / "registry").mkdir()
    with run_registry(work / "registry") as registry:
        layer = busybox_layer_of(work)
        registry.push("bench/busybox", make_image([layer]))
        registry.push("bench/data", make_image([random_layer(i) for i in range(LAYERS)]))
        image = f"{registry.host}/bench/busybox:latest"
        data = f"{registry.host}/bench/data:latest"
        figures["bare_default_ms"] = bare_default(work, runtime, layer.tar, RUNS, WARM)
        figures["engine_cycle_ms"] = engine_cycles(work, runtime, RUNS, WARM)
        with (
            berthd_peer(work, registry.host, runtime) as berthd,
            optional(installed("dockerd"), lambda: dockerd_peer(work)) as dockerd,
            optional(installed("podman"), lambda: podman_peer(work, runtime)) as podman,
        ):
            peers = [p for p in (berthd, dockerd, podman) if p is not None]
            for peer in peers:
                peer.call("pull", *peer.pull_extra, image)
            time.sleep(2)
            figures["berthd_idle_rss_mb"] = round(rss_kb(berthd.pids) / 1024, 1)
            if dockerd is not None:
                figures["dockerd_idle_rss_mb"] = round(rss_kb(dockerd.pids) / 1024, 1)
            figures["bare_berth_spec_ms"] = bare_berth_spec(
                work, runtime, layer.tar, RUNS, WARM, berthd, image
            )
            figures["docker_berthd_ms"] = run_rm(berthd, image)
            figures["berth_berthd_ms"] = berth_run_rm(berthd, image)
            if dockerd is not None:
                figures["docker_dockerd_ms"] = run_rm(dockerd, image)
            if podman is not None:
                figures["podman_ms"] = run_rm(podman, image)
            for peer in peers:
                figures[f"concurrent_{peer.name}_per_s"] = concurrent_starts(peer, image)
            figures[f"berthd_rss_{RUNNING}_running_mb"] = round(
                rss_with_running(berthd, image) / 1024, 1
            )
            for peer in (berthd, dockerd):
                if peer is not None:
                    figures[f"ps_{EXITED}_exited_{peer.name}_ms"] = ps_with_exited(peer, image)
            figures["pull_skopeo"] = skopeo_pull(work, data)
            for peer in peers:
                figures[f"pull_{peer.name}"] = engine_pull(peer, data)
    return figures


def targets(f: dict[str, Any]) -> dict[str, bool | None]:
    def median(key: str) -> float | None:
        return f[key]["median"] if key in f else None

    def at_most(value: float | None, limit: float | None) -> bool | None:
        return None if value is None or limit is None else value <= limit

    docker_dockerd = median("docker_dockerd_ms")
    berthd_starts, dockerd_starts = (
        f.get("concurrent_berthd_per_s"),
        f.get("concurrent_dockerd_per_s"),
    )
    pull_dockerd = f.get("pull_dockerd", {}).get("best_s")
    return {
        "engine cycle <= 1.0x bare runtime with berth's config.json": at_most(
            median("engine_cycle_ms"), median("bare_berth_spec_ms")
        ),
        "docker run through berthd <= 0.35x through dockerd": at_most(
            median("docker_berthd_ms"), docker_dockerd and 0.35 * docker_dockerd
        ),
        "berth run <= docker run through berthd + 25 ms": at_most(
            median("berth_berthd_ms"), median("docker_berthd_ms") + 25
        ),
        "50 concurrent starts >= 2x dockerd's per second": at_most(
            dockerd_starts and 2 * dockerd_starts, berthd_starts
        ),
        f"ps -a with {EXITED} exited <= dockerd's": at_most(
            median(f"ps_{EXITED}_exited_berthd_ms"), median(f"ps_{EXITED}_exited_dockerd_ms")
        ),
        "cold pull <= 0.5x dockerd's": at_most(
            f["pull_berthd"]["best_s"], pull_dockerd and 0.5 * pull_dockerd
        ),
        "berthd idle RSS <= 45 MB": at_most(f["berthd_idle_rss_mb"], 45),
        f"berthd RSS with {RUNNING} running <= 80 MB": at_most(
            f[f"berthd_rss_{RUNNING}_running_mb"], 80
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="runc", help="OCI runtime (berthd --runtime)")
    runtime = parser.parse_args().runtime
    with tempfile.TemporaryDirectory(prefix="berth-bench-peers-") as tmp:
        figures = measure(Path(tmp), runtime)
    met = targets(figures)
    report({**figures, "targets": met}, {k: v is not False for k, v in met.items()}, width=34)


if __name__ == "__main__":
    main()
