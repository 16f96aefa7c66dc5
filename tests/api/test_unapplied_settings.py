"""What berth does not apply yet is refused at create, with nothing recorded.

The real docker CLI against berthd: `run -i` and `run -t` (interactive containers are a
later issue), devices, another container's PID namespace, another runtime, an AppArmor
profile exit 125 with a message naming the setting (domain/settings_support.py), and the
event log's head does not move: no event, no name taken, no container listed. Clients'
default requests still run, and settings the table calls applied are seen inside the
container.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import docker
import pytest

from .conftest import Berthd


def log_head(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'events.db'}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    return int(found or 0)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--device-read-bps", "/dev/null:1mb"),
            "BlkioDeviceReadBps (--device-read-bps) is not supported by berth yet",
        ),
        (("--ipc", "container:other"), "IpcMode (--ipc) is not supported by berth yet"),
        (("--runtime", "foo"), "unknown or invalid runtime name: foo"),
        (
            ("--security-opt", "apparmor=x"),
            "SecurityOpt (--security-opt) is not supported by berth yet: apparmor=x",
        ),
    ],
)
def test_docker_run_with_a_setting_berth_does_not_apply_is_refused_and_records_nothing(
    berthd: Berthd, flags: tuple[str, ...], message: str
) -> None:
    before = log_head(berthd.root)
    refused = berthd.docker("run", *flags, "--name", "unapplied", "busybox", "cat")
    assert refused.returncode == 125, refused.stderr
    assert message in refused.stderr
    assert log_head(berthd.root) == before
    assert berthd.docker("ps", "-aq").stdout == ""
    # The name was not taken: a plain run with it works.
    plain = berthd.docker("run", "--name", "unapplied", "busybox", "echo", "plain")
    assert (plain.returncode, plain.stdout) == (0, "plain\n"), plain.stderr
    assert berthd.docker("rm", "unapplied").returncode == 0


def test_default_requests_of_the_docker_cli_and_docker_py_still_run(berthd: Berthd) -> None:
    plain = berthd.docker("run", "--rm", "busybox", "true")
    assert plain.returncode == 0, plain.stderr
    # --no-healthcheck: the image's probe is not run.
    quiet = berthd.docker(
        "run", "--rm", "--no-healthcheck", "--ipc", "shareable", "busybox", "true"
    )
    assert quiet.returncode == 0, quiet.stderr
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        assert client.containers.run("busybox", "true") == b""
        (ran,) = client.containers.list(all=True)
        assert ran.attrs["State"]["ExitCode"] == 0
        ran.remove()
    finally:
        client.close()


def test_settings_the_table_calls_applied_are_seen_inside_the_container(berthd: Berthd) -> None:
    flags = ("--domainname", "example.org", "--sysctl", "net.ipv4.ip_forward=1")
    flags += ("--group-add", "1234", "--oom-score-adj", "500", "-u", "1000:1000")
    script = "cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward; id -G; "
    script += "cat /proc/self/oom_score_adj"
    ran = berthd.docker("run", "--rm", *flags, "busybox", "sh", "-c", script)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split("\n") == ["example.org", "1", "1000 1234", "500", ""]


def test_ipc_host_shares_the_hosts_posix_shared_memory(berthd: Berthd) -> None:
    marker = Path("/dev/shm") / f"berth-ipc-host-{uuid.uuid4().hex}"
    marker.write_text("from the host\n")
    try:
        ran = berthd.docker("run", "--rm", "--ipc", "host", "busybox", "cat", str(marker))
        private = berthd.docker("run", "--rm", "busybox", "cat", str(marker))
    finally:
        marker.unlink()
    assert (ran.returncode, ran.stdout) == (0, "from the host\n"), ran.stderr
    assert private.returncode == 1  # a container's own /dev/shm does not have it


def test_privileged_gets_the_hosts_device_nodes(berthd: Berthd) -> None:
    """As dockerd: every device under the host's /dev (here its top level, the console
    aside); an unprivileged container gets only the defaults."""
    wanted = sorted(
        entry.name
        for entry in Path("/dev").iterdir()
        if entry.name != "console" and (entry.is_char_device() or entry.is_block_device())
    )
    privileged = berthd.docker("run", "--rm", "--privileged", "busybox", "ls", "/dev")
    assert privileged.returncode == 0, privileged.stderr
    assert set(wanted) <= set(privileged.stdout.split())
    plain = berthd.docker("run", "--rm", "busybox", "ls", "/dev")
    assert set(plain.stdout.split()) < set(privileged.stdout.split())
