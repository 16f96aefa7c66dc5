"""The engine's container verbs after create: each records the intent its command
decides (the reactor carries it out), or Docker's refusal with nothing recorded."""

from __future__ import annotations

from typing import Any

from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.container import Container
from berth.domain.container_names import validate_name
from berth.domain.errors import InvalidParameter
from berth.domain.name_claim import Name, name_conflict, name_id
from berth.domain.signals import DEFAULT_KILL_SIGNAL, signal_name, stop_signal, stop_timeout
from berth.domain.volume import Volume

from .engine_core import EngineCore, NameTaken
from .volume_records import volume_uses


class ContainerVerbs(EngineCore):
    def start(self, ref: str, actor: Actor) -> int:
        cid = self._id_of(ref)
        return self._change(cid, lambda c, cause: c.request_start(cause, ref), self.cause(actor))

    def stop(self, ref: str, actor: Actor, timeout: int | None = None) -> int:
        cid = self._id_of(ref)

        def decide(c: Container, cause: Cause) -> list[StrIdAggregate]:
            signal = stop_signal(c.config.get("StopSignal"))
            c.request_stop(signal, stop_timeout(timeout, c.config.get("StopTimeout")), cause, ref)
            return []

        return self._change(cid, decide, self.cause(actor))

    def kill(
        self, ref: str, actor: Actor, signal: str = DEFAULT_KILL_SIGNAL, named: str | None = None
    ) -> int:
        """`named`: the client's own reference, which dockerd's refusal repeats, when `ref`
        is the id it was resolved to."""
        name = signal_name(signal)  # a signal the runtime cannot send is refused unrecorded
        cid = self._id_of(ref)
        return self._change(
            cid, lambda c, cause: c.request_kill(name, cause, named or ref), self.cause(actor)
        )

    def pause(self, ref: str, actor: Actor) -> int:
        cid = self._id_of(ref)
        return self._change(cid, lambda c, cause: c.pause(cause, ref), self.cause(actor))

    def unpause(self, ref: str, actor: Actor) -> int:
        cid = self._id_of(ref)
        return self._change(cid, lambda c, cause: c.unpause(cause, ref), self.cause(actor))

    def restart(self, ref: str, actor: Actor, timeout: int | None = None) -> int:
        cid = self._id_of(ref)

        def decide(c: Container, cause: Cause) -> None:
            c.request_restart(stop_timeout(timeout, c.config.get("StopTimeout")), cause, ref)

        return self._change(cid, decide, self.cause(actor))

    def update(self, ref: str, host_config: dict[str, Any], actor: Actor) -> int:
        """Record `docker update`'s changed HostConfig fields (container_update.py)."""
        cid = self._id_of(ref)
        return self._change(cid, lambda c, k: c.update(host_config, k, ref), self.cause(actor))

    def top(self, ref: str, actor: Actor) -> int:
        """Record that `docker top` listed the container's processes (its event)."""
        cid = self._id_of(ref)
        return self._change(cid, lambda c, k: c.list_processes(k, ref), self.cause(actor))

    def attach(self, ref: str, actor: Actor) -> int:
        """Record an attach (refused for a paused or restarting container, as dockerd)."""
        cid = self._id_of(ref)
        return self._change(cid, lambda c, k: c.attach(k, ref), self.cause(actor))

    def detach(self, container_id: str, actor: Actor) -> int:
        """Record that an attached client left with its detach keys."""
        return self._change(container_id, lambda c, k: c.detach(k), self.cause(actor))

    def resize(self, container_id: str, height: int, width: int, actor: Actor) -> int:
        """Record the terminal's new size, once the monitor has applied it."""

        def decide(c: Container, k: Cause) -> None:
            c.resize(height, width, k)

        return self._change(container_id, decide, self.cause(actor))

    def rename(self, ref: str, new_name: str, actor: Actor) -> None:
        """Claim the new name, release the old one and rename, in one transaction."""
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        try:
            wanted = validate_name("/" + new_name.removeprefix("/"))
        except InvalidParameter as error:  # dockerd's words for a rename
            raise InvalidParameter(f"Error when allocating new name: {error.message}") from None
        cid = self._id_of(ref)

        def decide(c: Container, cause: Cause) -> list[StrIdAggregate]:
            old = c.name
            c.rename(wanted, cause, ref)
            try:
                claim = self._name_claim(wanted, c.id, cause)
            except NameTaken as taken:
                raise name_conflict(wanted, taken.owner) from None
            released: Name | None = self.find_aggregate(name_id(old, self.host_id))
            if released is not None:
                released.release(c.id, cause)
            changed: list[StrIdAggregate] = [claim]
            return changed + ([released] if released is not None else [])

        self._change(cid, decide, self.cause(actor))

    def remove(self, ref: str, actor: Actor, force: bool = False) -> None:
        """Record the removal intent; with nothing outside to clean up, complete it."""
        cause = self.cause(actor)
        container_id = self._id_of(ref)
        self.request_removal(container_id, actor, force, ref, cause=cause)
        self.complete_removal(container_id, cause)

    def request_removal(
        self,
        ref: str,
        actor: Actor,
        force: bool = False,
        caller_ref: str | None = None,
        *,
        cause: Cause | None = None,
        volumes: bool = False,
    ) -> int:
        """Record `RemovalRequested` (Docker's rules on running containers apply)."""
        return self._change(
            self._id_of(ref),
            lambda c, k: c.request_removal(force, k, caller_ref or ref, volumes),
            cause or self.cause(actor),
        )

    def complete_removal(
        self, container_id: str, cause: Cause, volumes: bool = False
    ) -> list[Volume]:
        """Record `Removed`, release the name and the volumes (answered), atomically (the
        outcome of a removal); with `volumes` (`rm -v`, `--rm`) anonymous ones go too."""
        released: list[Volume] = []

        def decide(c: Container, k: Cause) -> list[StrIdAggregate]:
            c.mark_removed(k)
            held: Name | None = self.find_aggregate(name_id(c.name, self.host_id))
            changed: list[StrIdAggregate] = []
            if held is not None and held.release(c.id, k):
                changed.append(held)
            released[:] = self.volumes.released(c.id, volume_uses(c), volumes, k)
            return [*changed, *released]

        self._change(container_id, decide, cause)
        return released
