"""Hostile-input benchmark: 10,000 fuzzed requests against berthd, and /_ping meanwhile.

berthd runs on a root of its own with busybox imported. Hypothesis draws requests for
every route of the API router (tests/api/fuzzing.py: the same strategies and invariants
as tests/api/test_fuzz.py) until N have been sent. Then the requests that used to hold
the event loop run once each: a name filter `(a|a)*b` over a container named `a`x40, a
create and start with 40,000 env entries, a create body at the 10 MiB limit. A separate
process pings `/_ping` every 20 ms throughout, so the figure is berthd's answer time and
not this process's own GIL.

Usage: bench/fuzz_api.py [N]   (default 10000). The last line is one JSON object:
{"requests", "status_5xx", "no_answer", "events_from_refused", "max_ping_ms", ...}.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.runtime.service.network_files import default_bridge_name  # noqa: E402
from tests.api.fuzzing import ROUTES, Outcome, Stage, call, request, run_route  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

BIN = Path(sys.executable).parent
PING_EVERY_S = 0.02
PING_TARGET_MS = 100


def ping_loop(sock: str, stop: Any, out: multiprocessing.connection.Connection) -> None:
    """(perf_counter when sent, latency ms) of every ping until `stop` is set; Linux's
    perf_counter is the system's monotonic clock, the same in every process."""
    samples: list[tuple[float, float]] = []
    while not stop.is_set():
        before = time.perf_counter()
        try:
            request(Path(sock), "GET", "/_ping", timeout=60)
            latency = (time.perf_counter() - before) * 1000
        except Exception:
            latency = math.inf
        samples.append((before, latency))
        time.sleep(PING_EVERY_S)
    out.send(samples)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slow_requests(sock: Path) -> dict[str, tuple[float, float]]:
    """Each request that once blocked the daemon: (start, end) on the monotonic clock."""
    windows: dict[str, tuple[float, float]] = {}

    def timed(name: str, method: str, target: str, body: Any = None) -> None:
        begin = time.perf_counter()
        answer = call(sock, method, target, body)
        assert answer.status < 500, (name, answer)
        windows[name] = (begin, time.perf_counter())

    assert call(sock, "POST", f"/containers/create?name={'a' * 40}", body_of()).status == 201
    wedge = quote(json.dumps({"name": ["(a|a)*b"]}))
    timed("name_filter_redos", "GET", f"/containers/json?all=1&filters={wedge}")
    env = [f"VARIABLE_{i}=value" for i in range(40_000)]
    timed("create_40000_env", "POST", "/containers/create?name=envy", body_of(Env=env))
    timed("start_40000_env", "POST", "/containers/envy/start")
    filler = "x" * 200
    env = [f"V{i}={filler}" for i in range(45_000)]  # just under the 10 MiB body limit
    timed("create_10mib_body", "POST", "/containers/create?name=big", body_of(Env=env))
    timed("inspect_10mib_container", "GET", "/containers/big/json")
    return windows


def body_of(**extra: Any) -> dict[str, Any]:
    return {"Image": "busybox", "Cmd": ["sleep", "60"], **extra}


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory(prefix="berth-bench-fuzz-") as tmp:
        work = Path(tmp)
        root, sock = work / "root", work / "berth.sock"
        tarball = busybox_tarball(work / "bb.tar")
        berth = [str(BIN / "berth"), "--root", str(root)]
        subprocess.run([*berth, "import", str(tarball), "busybox"], check=True, capture_output=True)
        daemon = subprocess.Popen(
            [str(BIN / "berthd"), "--root", str(root), "-H", f"unix://{sock}"],
            stderr=subprocess.PIPE,
        )
        stop = multiprocessing.Event()
        receive, send = multiprocessing.Pipe(duplex=False)
        pinger = multiprocessing.Process(target=ping_loop, args=(str(sock), stop, send))
        outcomes: list[Outcome] = []
        ended: list[float] = []  # when each outcome's answer came (monotonic clock)

        def record(outcome: Outcome) -> None:
            outcomes.append(outcome)
            ended.append(time.perf_counter())

        try:
            assert daemon.stderr is not None
            assert b"berthd ready" in daemon.stderr.readline()
            pinger.start()
            stage = Stage(sock, root, tarball)
            per_route = math.ceil(total / len(ROUTES))
            started = time.perf_counter()
            for route in ROUTES:
                run_route(stage, route, per_route, record)
            fuzz_s = time.perf_counter() - started
            fuzz_rss = peak_rss_mb(daemon.pid)
            windows = slow_requests(sock)
            rss = peak_rss_mb(daemon.pid)
            stop.set()
            samples: list[tuple[float, float]] = receive.recv()
            pinger.join()
        finally:
            stop.set()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            ids = subprocess.run([*berth, "ps", "-a", "-q"], capture_output=True, text=True)
            if ids.stdout.split():
                subprocess.run([*berth, "rm", "-f", *ids.stdout.split()], capture_output=True)
            subprocess.run(["ip", "link", "del", default_bridge_name(root)], check=False)
    latencies = sorted(ms for _, ms in samples)
    during = {
        name: round(
            max(
                (ms for at, ms in samples if begin <= at <= end),
                default=0.0,
            ),
            1,
        )
        for name, (begin, end) in windows.items()
    }
    worst_at, worst_ms = max(samples, key=lambda sample: sample[1])
    overlapping = [
        f"{o.drawn.method} {o.drawn.target[:120]}"
        for o, end in zip(outcomes, ended, strict=True)
        if end - o.seconds <= worst_at + worst_ms / 1000 and end >= worst_at
    ]
    print(f"slowest ping {worst_ms:.1f} ms during: {overlapping}", file=sys.stderr)
    violations = [o for o in outcomes if o.violation]
    for outcome in violations:
        print(f"violation: {outcome.status} {outcome.drawn} {outcome.message}", file=sys.stderr)
    figures = {
        "requests": len(outcomes),
        "status_5xx": sum(o.status >= 500 and o.violation for o in outcomes),
        "no_answer": sum(o.status <= 0 for o in outcomes),
        "events_from_refused": sum(bool(o.refused_events) for o in outcomes),
        "refused_4xx": sum(400 <= o.status < 500 for o in outcomes),
        "statuses": dict(sorted(Counter(str(o.status) for o in outcomes).items())),
        "fuzz_seconds": round(fuzz_s, 1),
        "slowest_request_s": round(max(o.seconds for o in outcomes), 2),
        "pings": len(latencies),
        "max_ping_ms": round(latencies[-1], 1),
        "p99_ping_ms": round(latencies[int(len(latencies) * 0.99)], 1),
        "max_ping_ms_during": during,
        "berthd_peak_rss_mb_fuzzing": round(fuzz_rss, 1),
        "berthd_peak_rss_mb": round(rss, 1),
    }
    met = figures["status_5xx"] == 0 and figures["events_from_refused"] == 0
    met = met and figures["no_answer"] == 0 and figures["max_ping_ms"] <= PING_TARGET_MS
    print(json.dumps({**figures, "targets_met": met}))


if __name__ == "__main__":
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.gettempdir())
    main()
