"""Log drivers with the docker CLI: json-file rotation keeps at most max-file files and
`logs` reads across them; `local` keeps files too; `none` keeps nothing and `logs`
answers as dockerd; LogConfig shows in inspect as given."""

from __future__ import annotations

import json
import os

from .conftest import Berthd

# Bursts of 10 numbered lines (about 600 bytes in the log) a second apart: several files
# of 1 kB, each seen by berthd before it fills.
BURSTS = (
    'i=0; for b in $(seq 1 8); do for l in $(seq 1 10); do i=$((i+1)); echo "line $i"; done; '
    "sleep 1; done"
)


def inspected(berthd: Berthd, name: str) -> dict[str, object]:
    shown = berthd.docker("inspect", name)
    assert shown.returncode == 0, shown.stderr
    doc: dict[str, object] = json.loads(shown.stdout)[0]
    return doc


def test_json_file_rotation_keeps_max_file_files_and_logs_reads_across_them(
    berthd: Berthd,
) -> None:
    opts = ("--log-opt", "max-size=1k", "--log-opt", "max-file=3")
    ran = berthd.docker("run", "--name", "rotating", *opts, "busybox", "sh", "-c", BURSTS)
    assert ran.returncode == 0, ran.stderr
    try:
        doc = inspected(berthd, "rotating")
        host = doc["HostConfig"]
        assert isinstance(host, dict)
        assert host["LogConfig"] == {
            "Type": "json-file",
            "Config": {"max-size": "1k", "max-file": "3"},
        }
        directory = berthd.root / "containers" / str(doc["Id"])
        files = {os.stat(p).st_ino for p in directory.glob("container.log*")
                 if not p.name.endswith((".max-file", ".tmp"))}  # fmt: skip
        assert 2 <= len(files) <= 3
        logs = berthd.docker("logs", "rotating")
        assert logs.returncode == 0, logs.stderr
        numbers = [int(line.split()[1]) for line in logs.stdout.splitlines()]
        # The newest lines, in order, none missing between the files; the oldest gone.
        assert numbers[-1] == 80
        assert numbers == list(range(numbers[0], 81))
        assert 1 < numbers[0] < 60
        tail = berthd.docker("logs", "--tail", "25", "rotating")
        assert tail.stdout.splitlines() == [f"line {n}" for n in range(56, 81)]
    finally:
        assert berthd.docker("rm", "-f", "rotating").returncode == 0


def test_local_driver_keeps_the_log_and_shows_its_config(berthd: Berthd) -> None:
    ran = berthd.docker("run", "--log-driver", "local", "--name", "local", "busybox", "echo", "hi")
    assert ran.returncode == 0, ran.stderr
    try:
        host = inspected(berthd, "local")["HostConfig"]
        assert isinstance(host, dict)
        assert host["LogConfig"] == {"Type": "local", "Config": {}}
        assert berthd.docker("logs", "local").stdout == "hi\n"
    finally:
        assert berthd.docker("rm", "local").returncode == 0


def test_none_keeps_nothing_and_logs_answers_as_dockerd(berthd: Berthd) -> None:
    ran = berthd.docker("run", "-d", "--log-driver", "none", "--name", "quiet", "busybox",
                        "sh", "-c", "echo secret; echo secret >&2")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    try:
        assert berthd.docker("wait", "quiet").stdout == "0\n"
        doc = inspected(berthd, "quiet")
        logs = berthd.docker("logs", "quiet")
        assert logs.returncode == 1
        assert "configured logging driver does not support reading" in logs.stderr
        directory = berthd.root / "containers" / str(doc["Id"])
        assert all(b"secret" not in p.read_bytes() for p in directory.glob("container.log*"))
    finally:
        assert berthd.docker("rm", "quiet").returncode == 0


def test_an_attached_run_shows_the_output_a_none_driver_does_not_keep(berthd: Berthd) -> None:
    """dockerd's attach copies the process's streams, whatever its log driver keeps."""
    ran = berthd.docker("run", "--rm", "--log-driver", "none", "busybox",
                        "sh", "-c", "echo out; echo err >&2; exit 3")  # fmt: skip
    assert (ran.returncode, ran.stdout, ran.stderr) == (3, "out\n", "err\n")


def test_an_unknown_driver_or_option_is_refused_at_create_with_dockerds_words(
    berthd: Berthd,
) -> None:
    for flags, message in (
        (("--log-driver", "x"), "logger: no log driver named 'x' is registered"),
        (("--log-opt", "x=1"), "unknown log opt 'x' for json-file log driver"),
        (("--log-driver", "local", "--log-opt", "x=1"), "unknown log opt 'x' for log driver"),
    ):
        refused = berthd.docker("create", *flags, "busybox", "true")
        assert refused.returncode == 1
        assert message in refused.stderr
    assert berthd.docker("ps", "-aq").stdout == ""
