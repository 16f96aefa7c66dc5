"""berthd, started and asked `docker ps`, holds none of the libraries it loads on first use
(ADR/0048): a real berthd process on a private root, whose imported modules are written
out by an exit hook when it stops on SIGTERM (no route of its own tells them)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

#: What berthd must not hold before a pull, a signed image, a fleet's store, a metrics
#: address or a `berth` command asks for it, and what it never needs.
LOADED_ON_FIRST_USE = (
    "httpx",  # the registry client
    "httpcore",
    "cryptography",  # image signatures
    "psycopg",  # a fleet's store
    "psycopg_pool",
    "berth.runtime.store.postgres_recorders",
    "prometheus_client",  # --metrics-addr
    "berth.runtime.dashboard.metrics",
    "dns",  # dnspython: the name server runs in a process of its own
    "isal",  # layer inflation
    "pyroute2.netlink.nlsocket",  # pyroute2's sockets and their asyncio machinery
    "asyncio",
    "click",  # the `berth` CLI's
    "rich",
    "pygments",
    "email",
)

#: berthd's own entry point, with a hook that writes sys.modules out when it exits.
BERTHD = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "berthd"
from berth.runtime.daemon import main
main()
"""


def list_containers(sock: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(30)
        client.connect(str(sock))
        client.sendall(b"GET /v1.41/containers/json HTTP/1.1\r\nHost: berth\r\n\r\n")
        answer = b""
        while b"\r\n\r\n[]" not in answer and (chunk := client.recv(65536)):
            answer += chunk
    return answer


def idle_modules(tmp_path: Path) -> set[str]:
    root, sock, out = tmp_path / "root", tmp_path / "berth.sock", tmp_path / "modules.json"
    process = subprocess.Popen(
        [sys.executable, "-c", BERTHD, str(out), "--root", str(root), "-H", f"unix://{sock}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "berthd ready" in line, line + process.stderr.read()
        answer = list_containers(sock)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return set(json.loads(out.read_text()))


def test_berthd_idle_holds_no_library_loaded_on_first_use(tmp_path: Path) -> None:
    modules = idle_modules(tmp_path)
    # The hook saw the serving daemon, not an interpreter that stopped early.
    assert {"trio", "berth.runtime.api.server", "berth.adapters.registry.client"} <= modules
    held = sorted(
        name
        for name in modules
        if any(name == lazy or name.startswith(f"{lazy}.") for lazy in LOADED_ON_FIRST_USE)
    )
    assert held == []
    assert not any(
        name.startswith("berth.runtime.cli.")
        for name in modules - {"berth.runtime.cli.root_values"}
    )
