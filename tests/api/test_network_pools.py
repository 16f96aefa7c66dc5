"""Address pools as a shared resource: berthd's bridges take small subnets, go at a clean
stop and come back at start, and `berth system prune` (as `docker network prune`)
removes the bridge and firewall chain of a berth root that no longer exists."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
from collections.abc import Callable

from berth.runtime.service.network_files import default_bridge_name, user_bridge_name

from ..fixtures.network import firewall_rules_sync, link_exists
from .conftest import Berthd


def test_small_subnets_released_at_a_clean_stop_and_made_again(
    start_berthd: Callable[..., Berthd],
) -> None:
    first = start_berthd(name="pools")
    found = re.search(r"subnet=(\S+)", first.ready_line)
    assert found and ipaddress.IPv4Network(found.group(1)).prefixlen == 24
    made = first.docker("network", "create", "small")
    assert made.returncode == 0, made.stderr
    (doc,) = json.loads(first.docker("network", "inspect", "small").stdout)
    assert ipaddress.IPv4Network(doc["IPAM"]["Config"][0]["Subnet"]).prefixlen == 24
    bridge = default_bridge_name(first.root)
    assert link_exists(bridge) and firewall_rules_sync(first.root)
    assert first.stop() == 0
    assert not link_exists(bridge)  # nothing ran: the stop gave the subnets back
    assert firewall_rules_sync(first.root) == []
    again = start_berthd(name="pools")
    assert link_exists(bridge)
    run = again.docker("run", "--rm", "--network", "small", "busybox", "true")
    assert run.returncode == 0, run.stderr


def test_system_prune_removes_the_bridges_of_a_root_that_is_gone(
    start_berthd: Callable[..., Berthd],
) -> None:
    gone = start_berthd(name="gone")
    assert gone.docker("network", "create", "orphan").returncode == 0
    (orphan,) = json.loads(gone.docker("network", "inspect", "orphan").stdout)
    bridge = default_bridge_name(gone.root)
    gone.process.kill()  # as a crash: its bridges and rules stay
    gone.process.wait()
    assert link_exists(bridge)
    shutil.rmtree(gone.root)
    survivor = start_berthd(name="survivor")
    pruned = survivor.berth("system", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    assert not link_exists(bridge)
    assert firewall_rules_sync(gone.root) == []  # its chains too
    assert not link_exists(user_bridge_name(bridge, orphan["Id"]))
    assert link_exists(default_bridge_name(survivor.root))


def test_system_prune_keeps_the_bridges_of_a_root_without_an_events_db(
    start_berthd: Callable[..., Berthd],
) -> None:
    """A fleet host's log is in PostgreSQL: its root has no events.db, and is alive."""
    elsewhere = start_berthd(name="elsewhere")
    bridge = default_bridge_name(elsewhere.root)
    assert link_exists(bridge)
    (elsewhere.root / "events.db").rename(elsewhere.root / "events.db.aside")
    try:
        survivor = start_berthd(name="survivor")
        pruned = survivor.berth("system", "prune", "-f")
        assert pruned.returncode == 0, pruned.stderr
        assert link_exists(bridge)
    finally:
        (elsewhere.root / "events.db.aside").rename(elsewhere.root / "events.db")
