"""`make run`: berth's main job as far as it goes today.

Containers do not run yet (that is the run issue), so the demo records what `docker run`
records before it starts anything: it registers the busybox-static binary as a one-layer
image (metadata only; the content store comes with the images issue), creates a
container, renames it, and shows `ps -a`, `inspect` and the history from the event log,
all through the `berth` CLI against a fresh root directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import tarfile
import tempfile
from pathlib import Path

from berth.domain.cause import Actor, ActorKind

from .cli import main as berth
from .engine import Engine

BUSYBOX = Path("/bin/busybox")


def busybox_layer() -> tuple[bytes, str]:
    """A tar with /bin/busybox from Debian's busybox-static, and its sha256 diff id."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
    data = buffer.getvalue()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def register_busybox(engine: Engine) -> None:
    layer, diff_id = busybox_layer()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    raw = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    engine.images.record_loaded(
        "sha256:" + hashlib.sha256(raw).hexdigest(),
        config,
        [
            {
                "digest": diff_id,
                "diff_id": diff_id,
                "size": len(layer),
                "media_type": "application/vnd.oci.image.layer.v1.tar",
            }
        ],
        len(layer),
        ["busybox:latest"],
        Actor(ActorKind.ENGINE),
        source="import",
    )


def run(root: Path, *args: str) -> None:
    print(f"\n$ berth {shlex.join(args)}", flush=True)
    berth(["--root", str(root), *args], standalone_mode=False)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-demo-"))
    print(f"berth demo: state in {root}")
    with Engine(root) as engine:
        register_busybox(engine)
    run(root, "images")
    run(root, "create", "--name", "web", "-l", "tier=front", "busybox", "httpd", "-f", "-p", "8080")
    run(root, "create", "busybox")
    run(root, "rename", "web", "frontend")
    run(root, "ps", "-a")
    run(root, "history", "frontend")
    run(root, "rm", "frontend")
    run(root, "ps", "-a")
    run(root, "history", "frontend")
    print(f"\nThe event log is {root / 'events.db'}; rerun any berth command with --root {root}")


if __name__ == "__main__":
    main()
