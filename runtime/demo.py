"""`make run`: berth's main job, through the `berth` CLI against a fresh root directory.

It imports Debian's busybox-static as a one-layer image, runs containers with runc (one
attached, one in the background), stops, renames and removes them, and shows `images`,
`ps -a`, `logs` and a container's history from the event log. It removes every container
it started, so nothing keeps running or stays mounted afterwards.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import tempfile
from pathlib import Path

from .cli import main as berth
from .engine import Engine

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "true", "sleep", "cat", "ls", "httpd")


def busybox_rootfs(
    destination: Path,
    applets: tuple[str, ...] = APPLETS,
    files: dict[str, str] | None = None,
) -> Path:
    """A root filesystem tarball: /bin/busybox, applet links and a few small text files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for name, text in (files or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    destination.write_bytes(buffer.getvalue())
    return destination


def run(root: Path, *args: str) -> None:
    print(f"\n$ berth {shlex.join(args)}", flush=True)
    berth(["--root", str(root), *args], standalone_mode=False)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-demo-"))
    print(f"berth demo: state in {root}")
    tarball = busybox_rootfs(root.parent / f"{root.name}-rootfs.tar")
    try:
        run(root, "import", "-m", "busybox-static from Debian", str(tarball), "busybox:latest")
    finally:
        tarball.unlink()
    try:
        run(root, "images")
        run(root, "run", "--rm", "busybox", "echo", "hello from a berth container")
        run(
            root,
            "run",
            "-d",
            "--name",
            "web",
            "-l",
            "tier=front",
            "busybox",
            "sh",
            "-c",
            "echo serving; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
        )
        run(root, "run", "--name", "failing", "busybox", "sh", "-c", "echo oops >&2; exit 3")
        run(root, "ps", "-a")
        run(root, "rename", "web", "frontend")
        run(root, "stop", "frontend")
        run(root, "logs", "-t", "frontend")
        run(root, "ps", "-a")
        run(root, "history", "frontend")
        run(root, "rm", "frontend", "failing")
        run(root, "history", "frontend")
    finally:
        # Whatever happened above, leave nothing running or mounted.
        with Engine(root) as engine:
            leftover = [row["id"] for row in engine.views.container_rows()]
        if leftover:
            berth(["--root", str(root), "rm", "-f", *leftover], standalone_mode=False)
    print(f"\nThe event log is {root / 'events.db'}; rerun any berth command with --root {root}")


if __name__ == "__main__":
    main()
