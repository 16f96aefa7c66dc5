"""berthd as a real process: readiness, following the log, clean exit on SIGTERM."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from berth.runtime.store.events import EventStore

from ..domain.factories import new_container


def tracked_position(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        found = conn.execute(
            "SELECT notification_id FROM tracking WHERE application_name = 'berth'"
        ).fetchone()
    return int(found[0]) if found else 0


def test_berthd_follows_the_log_and_stops_on_sigterm(root: Path) -> None:
    berthd = Path(sys.executable).parent / "berthd"
    process = subprocess.Popen(
        [str(berthd), "--root", str(root), "-H", f"unix://{root.parent}/berth.sock"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "berthd ready" in line, line
        # A bare event store writes without touching the projections: only berthd can
        # move their position to the new head.
        store = EventStore(root / "events.db")
        store.save(new_container())
        head = store.max_position()
        store.close()
        deadline = time.monotonic() + 10
        while tracked_position(root / "projections.db") < head:
            assert time.monotonic() < deadline, "berthd did not catch up"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "stopping on SIGTERM" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
