"""The engine's plumbing: one root's event store and projections, and the one way a
container is changed (load, decide, save in one transaction).

Every request is validated and decided in the domain before anything is written; a
refused request changes nothing. A change is one `save()` (one SQLite transaction) of
every aggregate it touches, retried when another writer got there first. Queries read
the projections after catching them up to the log, so they see every earlier write.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from eventsourcing.application import AggregateNotFoundError

from berth.adapters.mountpoints import HostMountPoints, MountPoints
from berth.adapters.private_files import private_dir
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.container import Container, ContainerState, is_container_id
from berth.domain.errors import BerthError, InvalidParameter, NotFound
from berth.domain.image import Image
from berth.domain.name_claim import Name, name_id
from berth.domain.volume import Volume

from ..store.events import EventStore, replay
from ..store.postgres import store_unavailable
from ..store.unit_of_work import unit_of_work
from ..views.projections import ProjectionStore
from ..views.tracking import times_set_back
from .image_records import ImageRecords
from .volume_records import VolumeRecords

log = logging.getLogger(__name__)


class EngineCore:
    """One berth root directory: its event store and its projections."""

    def __init__(
        self,
        root: Path,
        *,
        entropy: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        store_env: dict[str, str] | None = None,
        store_url: str | None = None,
        host_id: str = "",
        sole_writer: bool = False,
    ) -> None:
        """`store_url`: a fleet's postgresql:// log instead of `events.db` under the root;
        `host_id`: who this engine is in it (ADR/0043). A lone host on SQLite has none,
        so that its log reads and names stay what they were. `sole_writer`: the caller
        holds the root's lock (ADR/0021), so that nothing else writes the log or catches
        up the views meanwhile but a rebuild (ADR/0052)."""
        self.root = root
        private_dir(root)
        self._entropy = entropy
        self._clock = clock
        self.host_id = host_id if store_url else ""
        self.store = EventStore(
            root / "events.db",
            env=store_env,
            keep_aggregates=True,
            url=store_url,
            host_id=self.host_id,
            sole_writer=sole_writer,
        )
        self.views = ProjectionStore(root / "projections.db", self.host_id)
        # What the engine knows of the log and the views without asking them (ADR/0052):
        # the last position it saved, and where its last catch-up left the views (and
        # how many rebuilds had set them back then). Meaningful only when it is the
        # log's only writer: not in a fleet.
        self._sole_writer = self.store.sole_writer
        self._positions_lock = threading.Lock()
        self._saved_through = 0
        self._views_through = (-1, 0)
        self._views_key = str(self.views.db_path.resolve())
        self.images = ImageRecords(self)
        self.volumes = VolumeRecords(self, entropy)
        self.mount_points: MountPoints = HostMountPoints()
        # Told every position this engine saves and what it saved, from whichever thread.
        self.saved_listeners: list[Callable[[int, Sequence[StrIdAggregate]], None]] = []

    def close(self) -> None:
        self.store.close()
        self.views.datastore.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Plumbing ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The engine's clock (injected in tests)."""
        return self._clock()

    def cause(self, actor: Actor, correlation_id: str | None = None) -> Cause:
        if self.host_id:
            actor = dataclasses.replace(actor, host=self.host_id)
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
        with self._positions_lock:
            self._saved_through = max(self._saved_through, position)
        positions[""] = position
        if project is None:
            project = any(isinstance(a, Container | Image | Volume) for a in aggregates)
        if project:
            self._project(position)
        # Told after the views: whoever wakes on it reads them.
        for listener in self.saved_listeners:
            listener(position, aggregates)
        return positions

    def _project(self, position: int) -> None:
        try:
            self._views_caught_up()
        except BerthError as error:  # a full disk, a damaged event: said, not a traceback
            log.warning("projection failed after log position %d: %s", position, error.message)
        except Exception:
            # The change is recorded; only the view lags. Queries retry the catch-up and
            # report the failure, rather than this request claiming nothing happened.
            log.exception("projection failed after log position %d", position)

    def catch_up(self, *, recheck: bool = False) -> int:
        """The views at the log's head; while a fleet's store is unreachable, as they are
        (reads answer from what the views have, ADR/0043). `recheck`: ask the log and the
        views even when this engine knows them current (the views' follower, for what
        was changed outside the engine)."""
        try:
            return self._views_caught_up(recheck)
        except Exception as error:
            unavailable = store_unavailable(error)
            if unavailable is None:
                raise
            log.warning("views not caught up: %s", unavailable.message)
            return self.views.position()

    def _views_caught_up(self, recheck: bool = False) -> int:
        """The views' catch-up, skipped when they are known to be at this engine's last
        save and no rebuild has set them back since."""
        set_back = times_set_back(self._views_key)
        if self._sole_writer and not recheck:
            through, seen_set_back = self._views_through
            if seen_set_back == set_back and through >= self._saved_through:
                return through
        try:
            position = self.views.catch_up(self.store)
        except Exception:
            with self._positions_lock:  # what failed here fails every read's catch-up
                self._views_through = (-1, set_back)
            raise
        with self._positions_lock:
            if self._views_through[1] != set_back or self._views_through[0] < position:
                self._views_through = (position, set_back)
        return position

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

    def find_aggregate(self, aggregate_id: str) -> Any:
        """The aggregate, or None if it was never saved."""
        try:
            return self.get_aggregate(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _name_claim(self, wanted: str, container_id: str, cause: Cause) -> Name:
        existing: Name | None = self.find_aggregate(name_id(wanted, self.host_id))
        if existing is None:
            return Name.register(wanted, container_id, cause)
        if existing.owner is not None:
            raise NameTaken(existing.owner)
        existing.claim(container_id, cause)
        return existing

    def resolve_container(self, ref: str) -> str:
        """Docker's lookup: full id, then exact name, then a unique id prefix."""
        if self._sole_writer and is_container_id(ref):
            # A lone host's full id is a kept aggregate's (a fleet's log has every host's
            # containers, its views this host's): no need to bring the views up to date.
            found = self.find_aggregate(ref)
            if isinstance(found, Container) and found.state is not ContainerState.REMOVED:
                return ref
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

    # Shared with the image records -------------------------------------------------------

    def containers_using(self, image_id: str) -> list[str]:
        """Ids of the containers (not removed) created from `image_id`."""
        self.catch_up()
        return [row["id"] for row in self.views.container_rows() if row["doc"]["Image"] == image_id]


class NameTaken(Exception):
    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner
