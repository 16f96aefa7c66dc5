"""The engine: berth's application service, turning requests into saved events.

Every request is validated and decided in the domain before anything is written; a
refused request changes nothing. A change is one `save()` (one SQLite transaction) of
every aggregate it touches, retried when another writer got there first. Queries read
the projections after catching them up to the log, so they see every earlier write.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from berth.adapters.mountpoints import HostMountPoints, MountPoints
from berth.adapters.private_files import private_dir
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.config import Config, HostConfig, NetworkingConfig
from berth.domain.container import (
    Container,
    container_hostname,
    container_id_from_entropy,
    is_container_id,
)
from berth.domain.container_names import random_name, validate_name
from berth.domain.errors import BerthError, InvalidParameter, NotFound
from berth.domain.image import Image
from berth.domain.name_claim import Name, name_conflict, name_id
from berth.domain.settings import adapt_settings, merge_config, verify_settings
from berth.domain.signals import DEFAULT_KILL_SIGNAL, signal_name, stop_signal, stop_timeout
from berth.domain.volume import Volume

from ..store.events import EventStore, LoggedEvent, replay
from ..store.unit_of_work import unit_of_work
from ..views import container_list, containers
from ..views.projections import ProjectionStore
from .container_mounts import plan_for_create
from .image_records import ImageRecords
from .volume_records import VolumeRecords, volume_uses

log = logging.getLogger(__name__)
MAX_RANDOM_NAME_ATTEMPTS = 10
DEFAULT_ROOT = Path("/var/lib/berth")


@dataclass(frozen=True)
class Created:
    """What `POST /containers/create` answers."""

    id: str
    warnings: list[str] = field(default_factory=list)
    position: int = 0  # of the `Created` event in the log


class Engine:
    """One berth root directory: its event store and its projections."""

    def __init__(
        self,
        root: Path,
        *,
        entropy: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        store_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        private_dir(root)
        self._entropy = entropy
        self._clock = clock
        self.store = EventStore(root / "events.db", env=store_env, keep_aggregates=True)
        self.views = ProjectionStore(root / "projections.db")
        self.images = ImageRecords(self)
        self.volumes = VolumeRecords(self, entropy)
        self.mount_points: MountPoints = HostMountPoints()
        # Told every position this engine saves, from whichever thread saved it.
        self.saved_listeners: list[Callable[[int], None]] = []

    def close(self) -> None:
        self.store.close()
        self.views.datastore.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Plumbing ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The engine's clock (injected in tests)."""
        return self._clock()

    def cause(self, actor: Actor, correlation_id: str | None = None) -> Cause:
        return Cause(self._clock(), actor, correlation_id or uuid.uuid4().hex)

    def save(self, *aggregates: StrIdAggregate, project: bool | None = None) -> int:
        """Save aggregates in one transaction, then bring the views up to date.

        The views show containers and images only: a save of nothing else (a network's
        allocations, a name) leaves them to the next catch-up, unless `project` says.
        `project=False` also defers a container's change to the next save, for an
        outcome nobody reads before the one that follows it.
        """
        return self.save_positions(*aggregates, project=project).get("", 0)

    def save_positions(
        self, *aggregates: StrIdAggregate, project: bool | None = None
    ) -> dict[str, int]:
        """`save`, answering the position of each aggregate's last new event (and of the
        very last under "")."""
        recordings = self.store.save(*aggregates)
        positions = {r.domain_event.originator_id: r.notification.id for r in recordings}
        position = recordings[-1].notification.id if recordings else 0
        positions[""] = position
        if project is None:
            project = any(isinstance(a, Container | Image | Volume) for a in aggregates)
        if project:
            self._project(position)
        # Told after the views: whoever wakes on it reads them.
        for listener in self.saved_listeners:
            listener(position)
        return positions

    def _project(self, position: int) -> None:
        try:
            self.views.catch_up(self.store)
        except BerthError as error:  # a full disk, a damaged event: said, not a traceback
            log.warning("projection failed after log position %d: %s", position, error.message)
        except Exception:
            # The change is recorded; only the view lags. Queries retry the catch-up and
            # report the failure, rather than this request claiming nothing happened.
            log.exception("projection failed after log position %d", position)

    def catch_up(self) -> int:
        return self.views.catch_up(self.store)

    def get_aggregate(self, aggregate_id: str) -> Any:
        return self.store.repository.get(aggregate_id, projector_func=replay)

    def _change(
        self,
        container_id: str,
        decide: Callable[[Container, Cause], Iterable[StrIdAggregate] | None],
        cause: Cause,
        project: bool = True,
        others_first: bool = False,
    ) -> int:
        """Load, decide, save (`unit_of_work`); answers the position of the last event.

        `decide` changes the container and returns any other aggregates it changed, whose
        events the log has after the container's (before them with `others_first`).
        """

        def changed() -> list[StrIdAggregate]:
            container = self.find_aggregate(container_id)
            if not isinstance(container, Container):
                raise NotFound(f"No such container: {container_id}")
            others = list(decide(container, cause) or ())
            return [*others, container] if others_first else [container, *others]

        positions = unit_of_work(
            changed,
            lambda *a: self.save_positions(*a, project=project),
            f"container {container_id}",
        )
        return positions.get(container_id, positions[""])

    def _id_of(self, ref: str) -> str:
        """A full id as it is (its load says whether it exists); else Docker's lookup."""
        return ref if is_container_id(ref) else self.resolve_container(ref)

    # Containers: create --------------------------------------------------------------------

    def create_container(self, body: dict[str, Any], name: str | None, actor: Actor) -> Created:
        """Docker's `POST /containers/create`: validate everything, then record atomically."""
        if not isinstance(body, dict):
            raise InvalidParameter("config cannot be empty in order to create a container")
        canonical = validate_name(name) if name else None
        user_config = Config.from_docker(body)
        host_config = HostConfig.from_docker(body.get("HostConfig") or {})
        networking = NetworkingConfig.from_docker(body.get("NetworkingConfig") or {})
        if not user_config.image:
            raise InvalidParameter("config cannot be empty in order to create a container")
        image_id, image_config = self._image_for_create(user_config.image)
        merged = merge_config(user_config, image_config)
        warnings = verify_settings(merged, host_config, canonical, networking=networking)
        host_config = adapt_settings(host_config)
        mounts = plan_for_create(
            merged,
            host_config,
            root=self.root,
            hosts=self.mount_points,
            container_of=lambda ref: self.get_aggregate(self.resolve_container(ref)),
            new_volume_name=self.volumes.anonymous_name,
        )
        cause = self.cause(actor)
        for attempt in range(MAX_RANDOM_NAME_ATTEMPTS):
            container_id = self._new_container_id()
            config_doc = merged.to_docker()
            config_doc["Hostname"] = container_hostname(config_doc.get("Hostname"), container_id)
            wanted = canonical or validate_name(random_name(self._draw(), retry=attempt))
            container = Container.create(
                id=container_id,
                name=wanted,
                image=user_config.image,
                image_id=image_id,
                config=config_doc,
                host_config=host_config.to_docker(),
                networking_config=networking.to_docker(),
                mounts=mounts,
                cause=cause,
            )
            try:
                position = self._claim_and_save(container, wanted, cause)
            except _NameTaken as taken:
                if canonical is None:
                    continue  # a random name collided: draw another
                raise name_conflict(wanted, taken.owner) from None
            return Created(container_id, warnings, position)
        raise InvalidParameter("could not find a free random name; give one with --name")

    def _claim_and_save(self, container: Container, wanted: str, cause: Cause) -> int:
        # On a conflict the claim is decided again: a name someone else wrote first is
        # theirs now (`_NameTaken`), a name released meanwhile is claimed.
        uses = volume_uses(container)
        positions = unit_of_work(
            lambda: [  # the volumes first: dockerd's volume `create` precedes the container's
                *self.volumes.referenced(container.id, uses, cause),
                container,
                self._name_claim(wanted, container.id, cause),
            ],
            self.save_positions,
            f"name {wanted}",
        )
        return positions[container.id]

    def _name_claim(self, wanted: str, container_id: str, cause: Cause) -> Name:
        existing: Name | None = self.find_aggregate(name_id(wanted))
        if existing is None:
            return Name.register(wanted, container_id, cause)
        if existing.owner is not None:
            raise _NameTaken(existing.owner)
        existing.claim(container_id, cause)
        return existing

    def find_aggregate(self, aggregate_id: str) -> Any:
        """The aggregate, or None if it was never saved."""
        try:
            return self.get_aggregate(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _new_container_id(self) -> str:
        while True:
            try:
                return container_id_from_entropy(self._entropy(32))
            except ValueError:
                continue

    def _draw(self) -> int:
        return int.from_bytes(self._entropy(8), "big")

    def _image_for_create(self, image: str) -> tuple[str, Config]:
        row = self.images.row(image)
        return row["id"], Config.from_docker(row["config"].get("config") or {})

    # Containers: lifecycle -----------------------------------------------------------------

    def resolve_container(self, ref: str) -> str:
        """Docker's lookup: full id, then exact name, then a unique id prefix."""
        self.catch_up()
        if not ref:
            raise NotFound("No such container: ")
        if is_container_id(ref) and self.views.container_row(ref) is not None:
            return ref
        by_name = self.views.container_ids_by_name("/" + ref.lstrip("/"))
        if by_name:
            return by_name[0]
        matches = self.views.container_ids_matching(ref.lower()) if ref.isalnum() else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

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

    def kill(self, ref: str, actor: Actor, signal: str = DEFAULT_KILL_SIGNAL) -> int:
        name = signal_name(signal)  # a signal the runtime cannot send is refused unrecorded
        cid = self._id_of(ref)
        return self._change(
            cid, lambda c, cause: c.request_kill(name, cause, ref), self.cause(actor)
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

    def rename(self, ref: str, new_name: str, actor: Actor) -> None:
        """Claim the new name, release the old one and rename, in one transaction."""
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        wanted = validate_name(new_name)
        cid = self._id_of(ref)

        def decide(c: Container, cause: Cause) -> list[StrIdAggregate]:
            old = c.name
            c.rename(wanted, cause, ref)
            try:
                claim = self._name_claim(wanted, c.id, cause)
            except _NameTaken as taken:
                raise name_conflict(wanted, taken.owner) from None
            released: Name | None = self.find_aggregate(name_id(old))
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
            held: Name | None = self.find_aggregate(name_id(c.name))
            changed: list[StrIdAggregate] = []
            if held is not None and held.release(c.id, k):
                changed.append(held)
            released[:] = self.volumes.released(c.id, volume_uses(c), volumes, k)
            return [*changed, *released]

        self._change(container_id, decide, cause)
        return released

    def record(
        self,
        container_id: str,
        outcome: Callable[[Container, Cause], Iterable[StrIdAggregate] | None],
        actor: Actor,
        project: bool = True,
        others_first: bool = False,
    ) -> int:
        """Record an outcome a reactor observed, e.g. `lambda c, k: c.mark_started(...)`;
        other aggregates the outcome returns are saved in the same transaction."""
        return self._change(container_id, outcome, self.cause(actor), project, others_first)

    # Containers: queries -------------------------------------------------------------------

    def list_containers(
        self,
        all: bool = False,
        *,
        limit: int | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """`docker ps`: newest first, with Docker's `all`, `limit` and `filters`."""
        self.catch_up()
        moment = self._clock()
        entries = [containers.list_entry(row, moment) for row in self.views.container_rows()]
        return container_list.select(
            entries, all, limit, filters or {}, self.resolve_container, self.images.resolve
        )

    def inspect_container(self, ref: str) -> dict[str, Any]:
        row = self.views.container_row(self.resolve_container(ref))
        if row is None:
            raise NotFound(f"No such container: {ref}")
        doc: dict[str, Any] = row["doc"]
        return doc

    def history(self, container_id: str) -> list[LoggedEvent]:
        """Every event of one container, oldest first, removed containers included."""
        return self.store.aggregate_log(container_id)

    # Shared with the image records -------------------------------------------------------

    def containers_using(self, image_id: str) -> list[str]:
        """Ids of the containers (not removed) created from `image_id`."""
        self.catch_up()
        return [row["id"] for row in self.views.container_rows() if row["doc"]["Image"] == image_id]


class _NameTaken(Exception):
    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner
