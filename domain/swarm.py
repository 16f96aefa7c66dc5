"""What dockerd answers about swarm mode on a node that is in no swarm (moby's
daemon/cluster errNoSwarm and errNoManager), which berth always is (ADR/0046)."""

from __future__ import annotations

NOT_IN_A_SWARM = "This node is not part of a swarm"
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
#: Network drivers only a swarm manager has.
SWARM_DRIVERS = ("overlay",)
