"""berthd on a full disk: a clear 503 naming the path, nothing written half, and the next
request works once space returns, without a restart.

The daemon's directory is a tmpfs of its own (overlay takes tmpfs upper and lower layers).
It is filled by a filler file after the SQLite write-ahead logs were checkpointed and truncated, so
that the next append needs new space.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.images import make_image
from tests.fixtures.layers import busybox_layer
from tests.fixtures.registry import RunningRegistry

from ..fixtures.disk import fill, small_disk
from .conftest import Berthd

WATCHED = ("content/blobs/sha256", "content/ingest", "snapshots/layers", "snapshots/tmp", "tmp")


@pytest.fixture
def small_disk_for_berthd(tmp_path: Path) -> Iterator[Path]:
    """`start_berthd`'s directory (its root, socket and busybox tarball) on a disk of its
    own, mounted before the daemon starts and unmounted after its cleanup."""
    with small_disk(tmp_path, "96m") as disk:
        yield disk


def truncate_write_ahead_logs(root: Path) -> None:
    for name in ("events.db", "projections.db"):
        with sqlite3.connect(root / name) as conn:
            for _ in range(100):
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    break
                time.sleep(0.05)
            assert not busy, f"{name} stayed busy"


def events(root: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{root / 'events.db'}?mode=ro", uri=True) as conn:
        count, last = conn.execute("SELECT COUNT(*), MAX(rowid) FROM stored_events").fetchone()
    return int(count), int(last)


def files(root: Path) -> dict[str, list[str]]:
    """What a half-done write would leave: blobs, temp files, layers, unpack dirs, spools."""
    return {
        where: sorted(os.listdir(root / where)) if (root / where).exists() else []
        for where in (*WATCHED, "containers")
    }


def test_a_full_disk_answers_503_naming_the_path_and_recovers(
    small_disk_for_berthd: Path, start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    registry.push("library/busybox", make_image([busybox_layer()]))
    daemon = start_berthd(insecure=(registry.host,))
    root = daemon.root
    assert root.parent == small_disk_for_berthd
    before = daemon.docker("create", "--name", "before", "busybox", "true")
    assert before.returncode == 0, before.stderr
    ref = f"{registry.host}/library/busybox:latest"
    tarball = root.parent / "busybox.tar"
    truncate_write_ahead_logs(root)
    filler = fill(small_disk_for_berthd)
    logged, present = events(root), files(root)

    try:
        attempts = {
            "create": daemon.docker("create", "--name", "during", "busybox", "true"),
            "start": daemon.docker("start", "before"),
            "pull": daemon.docker("pull", ref),
            "import": daemon.docker("import", str(tarball), "imported:1"),
        }
        expected = {
            "create": f"no space left on device: {root}/events.db",
            "start": f"no space left on device: {root}/events.db",
            "pull": f"no space left on device: {root}/content/blobs/sha256/",
            "import": f"no space left on device: {root}/tmp/upload-",
        }
        for name, attempt in attempts.items():
            assert attempt.returncode != 0, (name, attempt.stdout)
            assert expected[name] in attempt.stderr, (name, attempt.stderr)
            assert "internal error" not in attempt.stderr
        assert events(root) == logged
        assert files(root) == present
        assert daemon.docker("inspect", "-f", "{{.State.Status}}", "before").stdout == "created\n"
    finally:
        filler.unlink()
    for command in (
        ("create", "--name", "during", "busybox", "true"),  # the name was not taken
        ("start", "before"),
        ("pull", ref),
        ("import", str(tarball), "imported:1"),
    ):
        again = daemon.docker(*command)
        assert again.returncode == 0, (command, again.stderr)
    assert daemon.docker("wait", "before").stdout == "0\n"
    assert events(root) > logged
