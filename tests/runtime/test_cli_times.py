"""`--since` and `--until` on the command line, read as the docker CLI reads them."""

from __future__ import annotations

from pathlib import Path

from ..integration.conftest import busybox_tarball, leftovers
from .test_cli_system import berth


def test_logs_and_events_read_durations_and_dates_and_refuse_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "root"
    tarball = busybox_tarball(tmp_path / "bb.tar")
    assert berth(root, "import", str(tarball), "busybox").returncode == 0
    assert berth(root, "run", "--name", "talk", "busybox", "echo", "hello").returncode == 0
    for since in ("10m", "2000-01-01", "2000-01-01T00:00", "946684800"):
        shown = berth(root, "logs", "--since", since, "talk")
        assert (shown.returncode, shown.stdout) == (0, "hello\n"), (since, shown.stderr)
    later = berth(root, "logs", "--until", "2000-01-01", "talk")
    assert (later.returncode, later.stdout) == (0, ""), later.stderr
    for command in ("logs", "events"):
        args = ("--since", "nonsense", "--until", "0s")
        refused = berth(root, command, *args, *(["talk"] if command == "logs" else []))
        assert refused.returncode != 0
        assert "failed to parse value as time or duration: 'nonsense'" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert berth(root, "rm", "talk").returncode == 0
    assert leftovers(root) == []
