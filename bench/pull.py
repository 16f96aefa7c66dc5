"""Pull benchmark: `berth pull` (download, verify, unpack) against `skopeo copy` (download).

Builds a 5-layer image of ~200 MB of incompressible data, pushes it to Debian's
docker-registry on 127.0.0.1, then times, in the same run, a cold `berth pull` and a cold
`skopeo copy docker://… dir:…` of it (each into an empty directory, each as a fresh
process, best of three). Prints its figures; the last line is one JSON object.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.adapters.snapshots.unpack import unpack_layer  # noqa: E402
from tests.fixtures.images import make_image  # noqa: E402
from tests.fixtures.layers import LAYER_MEDIA_TYPES, Blob, File, Layer, make_tar, sha256  # noqa: E402
from tests.fixtures.registry import run_registry  # noqa: E402

LAYERS = 5
LAYER_BYTES = 40 * 1024 * 1024
FILES_PER_LAYER = 20
RUNS = 3
BERTH = Path(sys.executable).parent / "berth"


def random_layer(seed: int) -> Layer:
    chunk = LAYER_BYTES // FILES_PER_LAYER
    files: dict[str, File] = {}
    for n in range(FILES_PER_LAYER):
        files[f"data{seed}/blob{n}"] = File(os.urandom(chunk))
    raw = make_tar(files)
    # Level 1: random data does not compress anyway, and level 9 would only slow set-up.
    blob = Blob(gzip.compress(raw, compresslevel=1, mtime=0), LAYER_MEDIA_TYPES[("oci", "gzip")])
    return Layer(blob, sha256(raw), raw)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-pull-") as tmp:
        work = Path(tmp)
        layers = [random_layer(i) for i in range(LAYERS)]
        image = make_image(layers)
        compressed = sum(layer.blob.size for layer in layers)
        uncompressed = sum(len(layer.tar) for layer in layers)
        (work / "registry").mkdir()
        with run_registry(work / "registry") as registry:
            registry.push("bench/data", image)
            reference = f"{registry.host}/bench/data:latest"
            berth_times, skopeo_times = [], []
            for run in range(RUNS):
                skopeo_dir = work / f"skopeo-{run}"
                skopeo_times.append(
                    timed(
                        [
                            "skopeo",
                            "copy",
                            "--quiet",
                            "--src-tls-verify=false",
                            f"docker://{reference}",
                            f"dir:{skopeo_dir}",
                        ]
                    )
                )
                shutil.rmtree(skopeo_dir)
                berth_root = work / f"berth-{run}"
                berth_times.append(
                    timed(
                        [
                            str(BERTH),
                            "--root",
                            str(berth_root),
                            "pull",
                            "--json",
                            "--insecure-registry",
                            registry.host,
                            reference,
                        ]
                    )
                )
                if run < RUNS - 1:
                    shutil.rmtree(berth_root)
            blobs = berth_root / "content" / "blobs" / "sha256"
            unpack_times = []
            for layer in layers:
                target = work / "unpack" / layer.digest[7:]
                target.parent.mkdir(exist_ok=True)
                start = time.perf_counter()
                unpack_layer(blobs / layer.digest[7:], target)
                unpack_times.append(time.perf_counter() - start)
                shutil.rmtree(target)
            shutil.rmtree(berth_root)
    berth_s, skopeo_s = min(berth_times), min(skopeo_times)
    figures = {
        "compressed_mb": round(compressed / 1e6, 1),
        "uncompressed_mb": round(uncompressed / 1e6, 1),
        "berth_s": round(berth_s, 3),
        "skopeo_s": round(skopeo_s, 3),
        "ratio": round(berth_s / skopeo_s, 3),
        "unpack_mb_s": round(uncompressed / 1e6 / sum(unpack_times), 1),
        "berth_runs_s": [round(t, 3) for t in berth_times],
        "skopeo_runs_s": [round(t, 3) for t in skopeo_times],
    }
    for key, value in figures.items():
        print(f"{key:18s} {value}", file=sys.stderr)
    print(f"target ratio <= 1.0: {'met' if figures['ratio'] <= 1.0 else 'MISSED'}", file=sys.stderr)
    print(json.dumps({**figures, "target_met": figures["ratio"] <= 1.0}))


if __name__ == "__main__":
    main()
