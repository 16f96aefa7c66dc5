"""`docker update`: a container's resources changed, in its live cgroup and in the log.

As pause (ADR 0005), the world acts first and the log records what it did: the new
limits are set on the running container's cgroup (`runc update`), then `Updated` is
recorded with the changed HostConfig fields, which inspect shows and every later start
builds its spec from. A refusal of the kernel (a memory limit below the usage) records
nothing. A container that does not run only has the change recorded.
"""

from __future__ import annotations

from typing import Any

from berth.domain.cause import Actor
from berth.domain.config import HostConfig
from berth.domain.container import Command, ContainerState
from berth.domain.container_update import plan_update
from berth.domain.errors import BerthError, Conflict
from berth.domain.spec import HostFacts
from berth.domain.spec.builder import live_resources

from .actions import ContainerActions


async def update_container(
    actions: ContainerActions, ref: str, body: Any, actor: Actor
) -> list[str]:
    """Apply and record an UpdateConfig; answers dockerd's warnings."""
    container_id: str = await actions.sync(actions.engine.resolve_container, ref)
    async with actions.locks.hold(container_id):
        container = await actions.load(container_id)
        container.check(Command.UPDATE, ref)
        changes, warnings = plan_update(container_id, container.host_config, body)
        if container.pid and container.state is not ContainerState.RESTARTING:
            merged = HostConfig.from_docker({**container.host_config, **changes})
            try:
                await actions.runtime.update(container_id, live_resources(merged, HostFacts()))
            except Conflict:
                pass  # it has just exited: its next start takes the new limits
            except BerthError as error:
                raise BerthError(
                    f"Cannot update container {container_id}: {error.message}"
                ) from error
        await actions.sync(actions.engine.update, container_id, changes, actor)
    return warnings
