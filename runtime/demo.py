"""`make run`: berth's main job as far as it goes today.

Containers do not run yet (that is the run issue), so the demo does what `docker run`
does before it starts anything: it imports Debian's busybox-static as a one-layer image
(a real image: blob in the content store, layer unpacked by chain id), creates containers,
renames one, and shows `images`, `ps -a` and a container's history from the event log —
all through the `berth` CLI against a fresh root directory.
"""

from __future__ import annotations

import io
import shlex
import tarfile
import tempfile
from pathlib import Path

from .cli import main as berth

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "true", "sleep", "cat", "ls", "httpd")


def busybox_rootfs(destination: Path) -> Path:
    """A root filesystem tarball: /bin/busybox and a few applet links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
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
    run(root, "images")
    run(root, "create", "--name", "web", "-l", "tier=front", "busybox", "httpd", "-f", "-p", "8080")
    run(root, "create", "busybox", "sh")
    run(root, "rename", "web", "frontend")
    run(root, "ps", "-a")
    run(root, "history", "frontend")
    run(root, "rm", "frontend")
    run(root, "ps", "-a")
    run(root, "history", "frontend")
    print(f"\nThe event log is {root / 'events.db'}; rerun any berth command with --root {root}")


if __name__ == "__main__":
    main()
