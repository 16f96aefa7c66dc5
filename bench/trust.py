"""Trust and push benchmark: the cost of the signature policy at pull, and `berth push`
against `skopeo copy` to the same registry.

1. Pull of a signed image (already present, so what is timed is resolve, policy, record)
   in one engine, alternately with no policy and with a `sigstoreSigned` policy that
   fetches and verifies the cosign signature; median of each. Target: ≤ 10 ms more.
2. A 5-layer image of ~200 MB of incompressible data, pulled into a berth root from one
   registry, then pushed by the engine's push (in process: a `berth` command's own engine
   start is not the push's) and by `skopeo copy dir:… docker://…` from a copy of the same
   blobs, each to a registry of its own started for the run (nothing to mount, no blob
   already there), best of three. Target: berth at most 1.2 times skopeo.

Prints its figures; the last line is one JSON object.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pull import LAYERS, random_layer  # noqa: E402
from berth.adapters.registry import RegistryClient  # noqa: E402
from berth.domain.cause import Actor, ActorKind  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.service.image_push import ImagePush  # noqa: E402
from berth.runtime.service.images import ImageService  # noqa: E402
from berth.runtime.service.trust import TrustGate  # noqa: E402
from tests.fixtures.images import make_image  # noqa: E402
from tests.fixtures.layers import busybox_layer, make_layer  # noqa: E402
from tests.fixtures.registry import run_registry  # noqa: E402
from tests.fixtures.signing import SigningKey, sign_image  # noqa: E402

PULLS = 15
RUNS = 3


async def pull_times(
    root: Path, host: str, reference: str, policy: Path
) -> tuple[list[float], list[float]]:
    actor = Actor(ActorKind.CLI)
    plain, checked = [], []
    with Engine(root) as engine:
        images = ImageService(engine)
        async with RegistryClient(images.content, insecure=(host,)) as client:
            images.registry = client
            await images.pull(reference, actor)
            gates = {"plain": TrustGate(engine, None), "checked": TrustGate(engine, policy)}
            for _ in range(PULLS):
                for name, times in (("plain", plain), ("checked", checked)):
                    images.trust = gates[name]
                    start = time.perf_counter()
                    await images.pull(reference, actor)
                    times.append(time.perf_counter() - start)
    return plain, checked


def policy_check(work: Path) -> dict[str, object]:
    (work / "small-registry").mkdir()
    with run_registry(work / "small-registry") as registry:
        image = make_image([busybox_layer(), make_layer({"etc/signed": b"1"})])
        registry.push("signed", image, tag="1")
        key = SigningKey.create(work / "keys", "bench")
        sign_image(registry, key, "signed", image.digest)
        policy = work / "policy.json"
        requirement = {
            "type": "sigstoreSigned",
            "keyPath": str(key.public_path),
            "signedIdentity": {"type": "matchRepository"},
        }
        doc = {
            "default": [{"type": "insecureAcceptAnything"}],
            "transports": {"docker": {registry.host: [requirement]}},
        }
        policy.write_text(json.dumps(doc))
        reference = f"{registry.host}/signed:1"
        plain, checked = trio.run(pull_times, work / "pull-root", registry.host, reference, policy)
    plain_ms, checked_ms = statistics.median(plain) * 1e3, statistics.median(checked) * 1e3
    return {
        "pull_ms": round(plain_ms, 2),
        "pull_with_policy_ms": round(checked_ms, 2),
        "policy_overhead_ms": round(checked_ms - plain_ms, 2),
    }


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]}: {done.stderr}")
    return time.perf_counter() - start


async def berth_push(root: Path, pulled: str, source: str, target: str, run: int) -> float:
    """Seconds for the engine's push of `pulled` (already pulled) to `target`."""
    actor = Actor(ActorKind.CLI)
    with Engine(root) as engine:
        images = ImageService(engine)
        async with RegistryClient(images.content, insecure=(source, target)) as client:
            images.registry = client
            if run == 0:
                await images.pull(pulled, actor)
            ref = f"{target}/berth-{run}:1"
            await trio.to_thread.run_sync(lambda: engine.images.tag(pulled, ref, actor))
            start = time.perf_counter()
            await ImagePush(images).push(ref, "", None, lambda _: None)
            return time.perf_counter() - start


def push_versus_skopeo(work: Path) -> dict[str, object]:
    layers = [random_layer(i) for i in range(LAYERS)]
    image = make_image(layers)
    root = work / "push-root"
    (work / "source").mkdir()
    berth_times, skopeo_times = [], []
    with run_registry(work / "source") as source:
        source.push("bench/data", image, tag="1")
        pulled = f"{source.host}/bench/data:1"
        blobs = work / "skopeo-dir"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                f"docker://{pulled}",
                f"dir:{blobs}",
            ],
            check=True,
            capture_output=True,
        )
        for run in range(RUNS):
            # A new registry each run: nothing already there, nothing to mount from.
            (work / f"target-{run}").mkdir()
            with run_registry(work / f"target-{run}") as target:
                skopeo_times.append(
                    timed(
                        [
                            "skopeo",
                            "copy",
                            "--quiet",
                            "--dest-tls-verify=false",
                            f"dir:{blobs}",
                            f"docker://{target.host}/skopeo:1",
                        ]
                    )
                )
            (work / f"target-b{run}").mkdir()
            with run_registry(work / f"target-b{run}") as target:
                berth_times.append(
                    trio.run(berth_push, root, pulled, source.host, target.host, run)
                )
    compressed = sum(layer.blob.size for layer in layers)
    berth_s, skopeo_s = min(berth_times), min(skopeo_times)
    return {
        "push_mb": round(compressed / 1e6, 1),
        "berth_push_s": round(berth_s, 3),
        "skopeo_copy_s": round(skopeo_s, 3),
        "push_ratio": round(berth_s / skopeo_s, 3),
        "berth_push_runs_s": [round(t, 3) for t in berth_times],
        "skopeo_runs_s": [round(t, 3) for t in skopeo_times],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-trust-") as tmp:
        work = Path(tmp)
        figures: dict[str, object] = {**policy_check(work), **push_versus_skopeo(work)}
    overhead_met = float(figures["policy_overhead_ms"]) <= 10.0  # type: ignore[arg-type]
    push_met = float(figures["push_ratio"]) <= 1.2  # type: ignore[arg-type]
    for key, value in figures.items():
        print(f"{key:22s} {value}", file=sys.stderr)
    print(
        f"target policy overhead <= 10 ms: {'met' if overhead_met else 'MISSED'}", file=sys.stderr
    )
    print(f"target push ratio <= 1.2: {'met' if push_met else 'MISSED'}", file=sys.stderr)
    print(json.dumps({**figures, "policy_target_met": overhead_met, "push_target_met": push_met}))


if __name__ == "__main__":
    main()
