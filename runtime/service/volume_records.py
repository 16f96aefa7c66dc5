"""Volume events: creating, referencing, mounting and removing volumes, and reading the
volume view. What is done on disk for them is volumes.py's (the driver's).

A container's volumes are decided with the container: `referenced` gives the aggregates
to save in the container's own transaction (a refused create leaves no volume), and
`released` those to save with its `Removed` (`rm -v` removes its anonymous volumes that
nobody else uses). A volume's references are on its own stream, so `volume rm` and a
create that names the volume cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.mounts import mount_points_of
from berth.domain.volume import Volume, VolumeMount, no_such_volume, volume_id

from ..store.unit_of_work import unit_of_work
from ..views import volumes
from ..views.projections import ProjectionStore

ANONYMOUS_NAME_BYTES = 32


class Recorder(Protocol):
    """What the volume records need of the engine (which owns them)."""

    views: ProjectionStore

    def catch_up(self) -> int: ...
    def find_aggregate(self, aggregate_id: str) -> Any: ...
    def cause(self, actor: Actor, correlation_id: str | None = None) -> Cause: ...
    def save(self, *aggregates: StrIdAggregate, project: bool | None = None) -> int: ...


@dataclass(frozen=True)
class VolumeUse:
    """A volume a container names at create: created with it if it does not exist."""

    name: str
    anonymous: bool = False
    options: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None


def volume_uses(container: Any) -> list[VolumeUse]:
    """The volumes of a container's mount points (its `mounts`, as the create planned
    them), in order."""
    return [
        VolumeUse(
            str(m["name"]),
            bool(m.get("anonymous")),
            m.get("volume_options"),
            m.get("volume_labels"),
        )
        for m in getattr(container, "mounts", None) or []
        if m.get("type") == "volume"
    ]


class VolumeRecords:
    """The volume side of the engine (the event store and the volume view)."""

    def __init__(self, engine: Recorder, entropy: Callable[[int], bytes]) -> None:
        self._engine = engine
        self._entropy = entropy

    # Queries -------------------------------------------------------------------------------

    def row(self, name: str) -> dict[str, Any]:
        self._engine.catch_up()
        found = self._engine.views.volume_row(name)
        if found is None:
            raise no_such_volume(name)
        return found

    def rows(
        self, filters: Mapping[str, Sequence[str]], accepted: Sequence[str] = volumes.LIST_FILTERS
    ) -> list[dict[str, Any]]:
        self._engine.catch_up()
        return volumes.select(self._engine.views.volume_rows(), filters, accepted)

    def used_by(self, container_id: str) -> list[str]:
        """The names of the volumes `container_id` references."""
        self._engine.catch_up()
        return [r["name"] for r in self._engine.views.volume_rows() if container_id in r["users"]]

    def removable_with(self, container_id: str) -> list[str]:
        """The anonymous volumes that `rm -v` of `container_id` removes: those only it uses."""
        found = []
        for name in self.used_by(container_id):
            volume = self._load(name)
            if volume is not None and volume.anonymous and volume.users == [container_id]:
                found.append(name)
        return found

    def anonymous_name(self) -> str:
        """A name as dockerd draws one for a volume given none: 64 hex."""
        return self._entropy(ANONYMOUS_NAME_BYTES).hex()

    # Changes -------------------------------------------------------------------------------

    def _load(self, name: str) -> Volume | None:
        found: Volume | None = self._engine.find_aggregate(volume_id(name))
        return found

    def _created(self, use: VolumeUse, driver: str, cause: Cause) -> tuple[Volume, bool]:
        """The volume of `use.name`, created (True) unless it exists."""
        fields: dict[str, Any] = {
            "driver": driver,
            "options": use.options,
            "labels": use.labels,
            "anonymous": use.anonymous,
        }
        existing = self._load(use.name)
        if existing is None:
            return Volume.create(use.name, cause, **fields), True
        return existing, existing.recreate(cause, **fields)

    def create(self, use: VolumeUse, driver: str, actor: Actor) -> str:
        """`POST /volumes/create`: the volume's name; an existing one is answered as it is."""
        cause = self._engine.cause(actor)

        def decide() -> list[StrIdAggregate]:
            volume, created = self._created(use, driver, cause)
            return [volume] if created else []

        unit_of_work(decide, self._save, f"volume {use.name}")
        return use.name

    def referenced(
        self, container_id: str, uses: Sequence[VolumeUse], cause: Cause
    ) -> list[StrIdAggregate]:
        """Inside a container's create: its volumes, created if need be and referenced."""
        changed: dict[str, Volume] = {}
        for use in uses:
            if use.name not in changed:  # one aggregate per volume, however often it is named
                changed[use.name], _ = self._created(use, "", cause)
            changed[use.name].reference(container_id, cause)
        return list(changed.values())

    def mounted(self, container: Any, cause: Cause) -> list[Volume]:
        """Inside a container's `Started`: its volumes mounted for it (Docker's `mount`),
        in the order of its mount points; a volume named twice is mounted once."""
        loaded: dict[str, Volume] = {}
        changed: list[Volume] = []
        for point in mount_points_of(getattr(container, "mounts", None)):
            if point.type != "volume":
                continue
            if point.name not in loaded:
                found = self._load(point.name)
                if found is None:
                    raise no_such_volume(point.name)
                loaded[point.name] = found
            mount = VolumeMount(point.destination, point.rw, point.propagation)
            if loaded[point.name].mount(container.id, mount, cause):
                changed.append(loaded[point.name])
        return changed

    def unmounted(self, container: Any, cause: Cause) -> list[Volume]:
        """Inside a container's exit: the volumes it had mounted, unmounted (`unmount`)."""
        changed = []
        for name in dict.fromkeys(use.name for use in volume_uses(container)):
            volume = self._load(name)
            if volume is not None and volume.unmount(container.id, cause):
                changed.append(volume)
        return changed

    def released(
        self,
        container_id: str,
        uses: Sequence[VolumeUse],
        remove_anonymous: bool,
        cause: Cause,
    ) -> list[Volume]:
        """Inside a container's removal: its references to the volumes of `uses` dropped
        (and a mount its exit did not record undone first); with `remove_anonymous` (`rm
        -v`, `--rm`) its anonymous volumes nobody else uses are removed too."""
        changed = []
        for name in dict.fromkeys(use.name for use in uses):
            volume = self._load(name)
            if volume is None:
                continue
            unmounted = volume.unmount(container_id, cause)
            if not volume.release(container_id, cause) and not unmounted:
                continue
            if remove_anonymous and volume.anonymous and not volume.users:
                volume.remove(cause)
            changed.append(volume)
        return changed

    def change(self, name: str, act: Callable[[Volume, Cause], object], actor: Actor) -> Volume:
        """Load the volume (404 if it does not exist), `act` on it, save what it recorded
        (nothing when `act` answers False)."""
        cause = self._engine.cause(actor)
        volume: Volume | None = None

        def decide() -> list[StrIdAggregate]:
            nonlocal volume
            volume = self._load(name)
            if volume is None or volume.removed:
                raise no_such_volume(name)
            # False: nothing to record, and no transaction for it
            return [] if act(volume, cause) is False else [volume]

        unit_of_work(decide, self._save, f"volume {name}")
        assert volume is not None
        return volume

    def remove(self, name: str, actor: Actor) -> Volume:
        """`volume rm`: 409 while any container references it."""
        return self.change(name, lambda v, k: v.remove(k), actor)

    def unmount(self, name: str, container_id: str, actor: Actor) -> Volume:
        return self.change(name, lambda v, k: v.unmount(container_id, k), actor)

    def _save(self, *changed: StrIdAggregate) -> int:
        if not changed:
            return 0  # nothing recorded: no transaction, no catch-up of the views
        return self._engine.save(*changed, project=True)
