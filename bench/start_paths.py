"""Start-path benchmark (ADR/0041): what each replaced process cost, interleaved in one run.

- `runc_start_ms` / `fifo_start_ms`: starting a created busybox container with `runc
  start` against opening its exec.fifo (adapters/runc/exec_fifo.py), alternately;
- `mount8_ms` / `mount2_ms`: a one-layer overlay mounted by spawning mount(8) against
  mount(2) on a thread of its own (adapters/snapshots/overlay_mount.py), alternately.
Medians of RUNS each. The last line is one JSON object.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.adapters.runc.exec_fifo import EXEC_FIFO, start_by_fifo  # noqa: E402
from berth.adapters.snapshots.overlay import unmount  # noqa: E402
from berth.adapters.snapshots.overlay_mount import mount_overlay  # noqa: E402

RUNS = 15
RUNC = shutil.which("runc") or "runc"


def bundle(work: Path) -> Path:
    path = work / "bundle"
    (path / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", path / "rootfs" / "bin" / "busybox")
    subprocess.run([RUNC, "spec", "--bundle", str(path)], check=True)
    config = json.loads((path / "config.json").read_text())
    config["process"].update(args=["/bin/busybox", "true"], terminal=False)
    (path / "config.json").write_text(json.dumps(config))
    return path


def runc(root: Path, *args: str) -> None:
    subprocess.run([RUNC, "--root", str(root), *args], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


async def starts(work: Path) -> tuple[list[float], list[float]]:
    root, path = work / "runc", bundle(work)
    by_runc, by_fifo = [], []
    for n in range(RUNS * 2):
        cid = f"bench-start-{n}"
        runc(root, "create", "--bundle", str(path), cid)
        began = time.perf_counter()
        if n % 2:
            runc(root, "start", cid)
            by_runc.append(time.perf_counter() - began)
        else:
            assert await start_by_fifo(root / cid / EXEC_FIFO, None)
            by_fifo.append(time.perf_counter() - began)
        runc(root, "delete", "--force", cid)
    return by_runc, by_fifo


async def mounts(work: Path) -> tuple[list[float], list[float]]:
    for sub in ("lower", "upper", "work", "merged"):
        (work / sub).mkdir()
    options = f"lowerdir=lower,upperdir={work / 'upper'},workdir={work / 'work'}"
    by_mount8, by_mount2 = [], []
    for n in range(RUNS * 2):
        began = time.perf_counter()
        if n % 2:
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options,
                            str(work / "merged")], cwd=work, check=True)  # fmt: skip
            by_mount8.append(time.perf_counter() - began)
        else:
            assert await mount_overlay(work, options, work / "merged") is None
            by_mount2.append(time.perf_counter() - began)
        unmount(work / "merged")
    return by_mount8, by_mount2


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


async def main_async() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="berth-bench-start-") as tmp:
        by_runc, by_fifo = await starts(Path(tmp) / "s")
        by_mount8, by_mount2 = await mounts(Path(tmp))
    return {"runc_start_ms": ms(by_runc), "fifo_start_ms": ms(by_fifo),
            "mount8_ms": ms(by_mount8), "mount2_ms": ms(by_mount2)}  # fmt: skip


def main() -> None:
    figures = trio.run(main_async)
    for name, value in figures.items():
        print(f"{name:<16} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
