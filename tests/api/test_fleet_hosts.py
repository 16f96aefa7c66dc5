"""Three berthd hosts (three roots, three host ids) on one PostgreSQL database, running
containers at once: `ps --fleet`, `audit --host all`, `audit verify` and `history`
show every host's (ADR/0043)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from ..fixtures.berthd import Berthd
from ..integration.conftest import busybox_tarball

HOSTS = ("fleet-a", "fleet-b", "fleet-c")


def start_fleet(start_berthd: Callable[..., Berthd], url: str, tmp_path: Path) -> list[Berthd]:
    tarball = busybox_tarball(tmp_path / "busybox.tar")
    daemons = []
    for host in HOSTS:
        daemon = start_berthd(
            name=host, import_busybox=False, args=("--store", url, "--host-id", host)
        )
        imported = daemon.berth("import", str(tarball), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
        daemons.append(daemon)
    return daemons


def test_three_hosts_run_containers_at_once_and_the_fleet_sees_them_all(
    postgres_url: str, start_berthd: Callable[..., Berthd], tmp_path: Path
) -> None:
    # The database first: it is dropped after the daemons have stopped.
    daemons = start_fleet(start_berthd, postgres_url, tmp_path)
    ran: dict[str, str] = {}

    def run(daemon: Berthd, host: str) -> None:
        done = daemon.docker("run", "-d", "--name", "web", "busybox", "sleep", "60")
        ran[host] = done.stdout.strip() if done.returncode == 0 else done.stderr

    threads = [threading.Thread(target=run, args=pair) for pair in zip(daemons, HOSTS, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(ran[h]) == 64 for h in HOSTS), ran

    # Each host's own `docker ps` lists its own "web", running.
    for daemon, host in zip(daemons, HOSTS, strict=True):
        own = daemon.docker("ps", "--format", "{{.ID}} {{.Names}} {{.State}}").stdout.split()
        assert own == [ran[host][:12], "web", "running"]

    listed = daemons[0].berth("ps", "--fleet", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {(e["Host"], e["Id"], e["State"]) for e in entries} == {
        (host, ran[host], "running") for host in HOSTS
    }
    table = daemons[1].berth("ps", "--fleet").stdout.splitlines()
    assert table[0].split()[:3] == ["HOST", "CONTAINER", "ID"]
    assert sorted(line.split()[0] for line in table[1:]) == sorted(HOSTS)

    audited = daemons[2].berth("audit", "--host", "all", "--action", "start", "--format", "json")
    assert audited.returncode == 0, audited.stderr
    started = {json.loads(line)["actor"]["host"] for line in audited.stdout.splitlines()}
    assert started == set(HOSTS)
    verified = daemons[1].berth("audit", "verify", "--host", "all")
    assert verified.returncode == 0 and verified.stdout.startswith("note: hosts checked: ")

    # One host reads the history of another's container from the shared log.
    history = daemons[0].berth("history", "--format", "json", ran["fleet-c"])
    assert history.returncode == 0, history.stderr
    assert "Started" in history.stdout
