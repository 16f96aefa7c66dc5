"""`make run`: berth's main job, through the `berth` CLI against a running berthd.

It starts berthd unless its socket already answers (root /var/lib/berth, socket
/run/berth/berth.sock, log /var/log/berth/berthd.log; BERTH_ROOT and BERTH_HOST override
the first two), waits until `/_ping` answers, imports a busybox image built from Debian's
busybox-static if the daemon has none, and runs `berth run --rm busybox echo hello from
berth` against it. Running it again reuses the daemon and the image; the daemon keeps
running afterwards (stop it with `kill $(cat /run/berth/berthd.pid)`).
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from .cli.client.http import DaemonClient, DaemonError, socket_path

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


DEFAULT_ROOT = Path("/var/lib/berth")
DEFAULT_HOST = "unix:///run/berth/berth.sock"
LOG = Path("/var/log/berth/berthd.log")
READY_TIMEOUT_S = 30.0
BIN = Path(sys.executable).parent


def berth(host: str, *args: str) -> int:
    print(f"$ berth -H {host} {shlex.join(args)}", flush=True)
    return subprocess.run([str(BIN / "berth"), "-H", host, *args], check=False).returncode


def ensure_daemon(client: DaemonClient, root: Path) -> None:
    """Start berthd in the background unless its socket answers; wait for `/_ping`."""
    if client.ping():
        print(f"berthd already answers on {client.host}")
        return
    LOG.parent.mkdir(parents=True, exist_ok=True)
    pid_file = Path(client.path).with_name("berthd.pid")
    with LOG.open("ab") as log:
        daemon = subprocess.Popen(
            [str(BIN / "berthd"), "--root", str(root), "-H", client.host],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # it outlives `make run`, as a service would
        )
    print(f"started berthd (pid {daemon.pid}, root {root}, log {LOG})")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not client.ping():
        if daemon.poll() is not None or time.monotonic() > deadline:
            tail = LOG.read_text(errors="replace").splitlines()[-20:]
            sys.exit("berthd did not become ready:\n" + "\n".join(tail))
        time.sleep(0.05)
    pid_file.write_text(f"{daemon.pid}\n")


def ensure_busybox(client: DaemonClient, host: str) -> None:
    try:
        client.call("GET", "/images/busybox/json")
        print("image busybox is there")
        return
    except DaemonError as error:
        if error.status != 404:
            raise
    with tempfile.TemporaryDirectory(prefix="berth-demo-") as work:
        tarball = busybox_rootfs(Path(work) / "rootfs.tar")
        code = berth(host, "import", "-m", "busybox-static from Debian", str(tarball), "busybox")
    if code != 0:
        sys.exit(code)


def main() -> None:
    host = os.environ.get("BERTH_HOST") or DEFAULT_HOST
    root = Path(os.environ.get("BERTH_ROOT") or DEFAULT_ROOT)
    socket_path(host)  # only unix sockets
    client = DaemonClient(host)
    ensure_daemon(client, root)
    ensure_busybox(client, host)
    sys.exit(berth(host, "run", "--rm", "busybox", "echo", "hello from berth"))


if __name__ == "__main__":
    main()
