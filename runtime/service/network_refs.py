"""The names and ids of the user-defined networks that exist, for a container's create
(an unknown `--network` is dockerd's 404 at create, not at start)."""

from __future__ import annotations

from typing import Any

from berth.domain.network import Network


def network_refs(engine: Any) -> frozenset[str]:
    engine.catch_up()
    refs: set[str] = set()
    for network_id in engine.views.network_ids():
        network: Network | None = engine.find_aggregate(network_id)
        if network is not None and not network.removed:
            refs |= {network.name, network.id}
    return frozenset(refs)
