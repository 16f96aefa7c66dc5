"""Log options through berthd: max-size applied to a real container, the rest refused
(rotation and the other drivers: test_log_drivers.py)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

from .conftest import Berthd

MAX_SIZE = 1_000_000  # `--log-opt max-size=1m`: decimal, as go-units reads it


def last_position(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'events.db'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0])


def test_refused_log_options_are_400s_naming_them_and_record_nothing(berthd: Berthd) -> None:
    name = f"logopts-{uuid.uuid4().hex[:8]}"
    before = last_position(berthd.root)
    for options, named in (
        (["--log-opt", "max-size=1m", "--log-opt", "compress=true"], "compress"),
        (["--log-opt", "max-file=2", "--log-opt", "max-size=1", "--log-opt", "compress=1"], "=t"),
        (["--log-opt", "tag={{.Name}}"], "'tag'"),
        (["--log-opt", "labels-regex=x"], "'labels-regex'"),
        (["--log-opt", "mode=non-blocking"], "mode=non-blocking"),
        (["--log-opt", "max-size=lots"], "invalid size: 'lots'"),
        (["--log-opt", "nope=1"], "unknown log opt 'nope'"),
        (["--log-driver", "syslog"], "no log driver named 'syslog'"),
    ):
        created = berthd.docker("create", "--name", name, *options, "busybox", "true")
        assert created.returncode != 0, (options, created.stdout)
        assert named in created.stderr, (options, created.stderr)
        assert "Error response from daemon" in created.stderr
    assert last_position(berthd.root) == before
    assert berthd.docker("ps", "-a", "-q").stdout.split() == []
    # the name was not taken by any of them, and the options berth applies are accepted
    created = berthd.docker(
        "create", "--name", name, "--log-driver", "json-file", "--log-opt", "max-file=1",
        "--log-opt", "max-size=2k", "--log-opt", "compress=false", "busybox", "true",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    berthd.docker("rm", name)


def test_max_size_keeps_one_small_log_and_logs_still_read_it(berthd: Berthd) -> None:
    script = "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -n 800000; echo last-line"
    run = berthd.docker("run", "-d", "--log-opt", "max-size=1m", "busybox", "sh", "-c", script)
    assert run.returncode == 0, run.stderr
    container = run.stdout.strip()
    waited = berthd.docker("wait", container, timeout=120)
    assert waited.stdout.strip() == "0", waited.stderr
    log = berthd.root / "containers" / container / "container.log"
    assert 0 < log.stat().st_size <= MAX_SIZE
    assert sorted(p.name for p in log.parent.glob("container.log*")) == ["container.log"]
    tail = berthd.docker("logs", "--tail", "2", container)
    assert tail.stdout.splitlines()[-1] == "last-line", tail.stdout[-200:]
    everything = berthd.docker("logs", container)
    assert everything.returncode == 0
    assert everything.stdout.endswith("last-line\n")
    assert len(everything.stdout) <= MAX_SIZE
    assert set(everything.stdout.splitlines()[1:-1]) == {"0123456789abcdefghijklmnopqrstuvwxyz"}
    inspected = json.loads(berthd.docker("inspect", container).stdout)[0]
    assert inspected["HostConfig"]["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-size": "1m"},
    }
    info = berthd.docker("info", "--format", "{{.LoggingDriver}}")
    assert info.stdout.strip() == "json-file"
    berthd.docker("rm", container)


def test_details_put_the_line_s_attributes_and_a_space_before_it(berthd: Berthd) -> None:
    """dockerd writes a line's log attributes and a space; berth records none."""
    name = f"details-{uuid.uuid4().hex[:8]}"
    ran = berthd.docker("run", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2")
    assert ran.returncode == 0, ran.stderr
    shown = berthd.docker("logs", "--details", name)
    assert (shown.stdout, shown.stderr) == (" one\n", " two\n")
    assert berthd.docker("logs", name).stdout == "one\n"
    stamped = berthd.docker("logs", "--details", "--timestamps", name).stdout
    assert stamped.endswith("Z  one\n"), stamped
    assert berthd.docker("rm", name).returncode == 0
