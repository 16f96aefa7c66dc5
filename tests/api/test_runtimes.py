"""berthd's OCI runtimes (ADR/0040): crun by default where it works, runc on request;
each container keeps the runtime that created it, across berthd restarts."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from berth.adapters.runc.backends import unusable_reason

from .conftest import Berthd

pytestmark = pytest.mark.skipif(
    bool(unusable_reason("crun", "crun")), reason=unusable_reason("crun", "crun") or "crun"
)


def host_config(daemon: Berthd, name: str) -> dict[str, object]:
    (doc,) = json.loads(daemon.docker("inspect", name).stdout)
    found: dict[str, object] = doc["HostConfig"]
    return found


def test_crun_is_the_default_and_runc_is_there_on_request(
    start_berthd: Callable[..., Berthd],
) -> None:
    plain = start_berthd(name="plain-runtimes")
    assert "runtime=crun (also runc)" in plain.ready_line
    info = json.loads(plain.docker("info", "--format", "{{json .}}").stdout)
    assert (info["DefaultRuntime"], set(info["Runtimes"])) == ("crun", {"crun", "runc"})
    ran = plain.docker("run", "--name", "by-runc", "--runtime", "runc", "busybox", "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
    assert host_config(plain, "by-runc")["Runtime"] == "runc"
    ran = plain.docker("run", "--name", "by-default", "busybox", "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr
    assert host_config(plain, "by-default")["Runtime"] == "crun"


def test_crun_as_berthds_default_and_runc_per_container(
    start_berthd: Callable[..., Berthd],
) -> None:
    daemon = start_berthd(name="runtimes", env={"BERTH_RUNTIME": "crun"})
    assert "runtime=crun (also runc)" in daemon.ready_line
    info = json.loads(daemon.docker("info", "--format", "{{json .}}").stdout)
    assert info["DefaultRuntime"] == "crun"
    assert set(info["Runtimes"]) == {"crun", "runc"}

    plain = daemon.docker("run", "--name", "plain", "busybox", "echo", "by crun")
    assert (plain.returncode, plain.stdout) == (0, "by crun\n"), plain.stderr
    assert host_config(daemon, "plain")["Runtime"] == "crun"
    up = daemon.docker("run", "-d", "--runtime", "runc", "--name", "old", "busybox", "sleep", "60")
    assert up.returncode == 0, up.stderr
    cid = up.stdout.strip()
    assert host_config(daemon, "old")["Runtime"] == "runc"
    assert (daemon.root / "run" / "runc" / cid).is_dir()

    # Missing and unrunnable commands: Docker's words and codes under crun, run and exec.
    missing = daemon.docker("run", "--rm", "busybox", "nosuch")
    assert missing.returncode == 127
    assert 'exec: "nosuch": executable file not found in $PATH' in missing.stderr
    directory = daemon.docker("run", "--rm", "busybox", "/bin")
    assert directory.returncode == 126, directory.stderr
    assert 'exec: "/bin": permission denied' in directory.stderr
    assert daemon.docker("start", "plain").returncode == 0  # crun again, exits at once
    svc = daemon.docker("run", "-d", "--name", "svc", "busybox", "sleep", "60")
    assert svc.returncode == 0, svc.stderr
    by_crun, by_runc = (daemon.docker("exec", name, "nosuch") for name in ("svc", "old"))
    assert by_crun.returncode == by_runc.returncode == 126  # dockerd's for a failed exec
    for failed in (by_crun, by_runc):
        assert 'exec: "nosuch": executable file not found in $PATH' in failed.stdout
    ran = daemon.docker("exec", "svc", "echo", "in crun")
    assert (ran.returncode, ran.stdout) == (0, "in crun\n"), ran.stderr
    assert daemon.docker("rm", "-f", "svc").returncode == 0

    # Another default after a restart: the container still runs under runc.
    assert daemon.stop() == 0
    again = start_berthd(name="runtimes", args=("--runtime", "runc"))
    assert "runtime=runc (also crun)" in again.ready_line
    assert (
        json.loads(again.docker("info", "--format", "{{json .}}").stdout)["DefaultRuntime"]
        == "runc"
    )
    ran = again.docker("exec", "old", "echo", "still runc")
    assert (ran.returncode, ran.stdout) == (0, "still runc\n"), ran.stderr
    assert (again.root / "run" / "runc" / cid).is_dir()
    assert again.docker("rm", "-f", "old").returncode == 0
    assert not (again.root / "run" / "runc" / cid).exists()
    by_crun = again.docker("run", "--rm", "--runtime", "crun", "busybox", "echo", "by crun")
    assert (by_crun.returncode, by_crun.stdout) == (0, "by crun\n"), by_crun.stderr
