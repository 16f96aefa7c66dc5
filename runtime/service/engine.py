"""The engine: berth's application service, turning requests into saved events.

Every request is validated and decided in the domain before anything is written; a
refused request changes nothing. A change is one `save()` (one SQLite transaction) of
every aggregate it touches, retried when another writer got there first. Queries read
the projections after catching them up to the log, so they see every earlier write.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from berth.adapters.cgroups import unified as unified_cgroups
from berth.domain.cause import Actor, Cause
from berth.domain.config import Config, HostConfig, NetworkingConfig
from berth.domain.container import Container, container_hostname, container_id_from_entropy
from berth.domain.container_names import random_name, validate_name
from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.name_claim import name_conflict
from berth.domain.runtimes import RuntimeNames, asked_runtime
from berth.domain.settings import adapt_settings, merge_config, verify_settings

from ..store.events import LoggedEvent
from ..store.unit_of_work import unit_of_work
from ..views import container_list
from .container_mounts import plan_for_create
from .container_verbs import ContainerVerbs
from .engine_core import NameTaken
from .network_refs import network_refs
from .volume_records import volume_uses

log = logging.getLogger(__name__)
MAX_RANDOM_NAME_ATTEMPTS = 10
DEFAULT_ROOT = Path("/var/lib/berth")


@dataclass(frozen=True)
class Created:
    """What `POST /containers/create` answers."""

    id: str
    warnings: list[str] = field(default_factory=list)
    position: int = 0  # of the `Created` event in the log


class Engine(ContainerVerbs):
    """One berth root directory: create, the verbs (container_verbs.py) and the queries
    of containers; the plumbing is engine_core.py."""

    #: The OCI runtimes a create may ask for; the host sets those its runtime has.
    runtime_names = RuntimeNames()

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
        warnings = verify_settings(
            merged,
            host_config,
            canonical,
            ncpu=len(os.sched_getaffinity(0)),  # dockerd's sysinfo.NumCPU
            networking=networking,
            networks=network_refs(self),
        )
        runtime = self.runtime_names.resolve(asked_runtime(body, host_config.runtime))
        host_config = adapt_settings(
            replace(host_config, runtime=runtime), cgroup_v2=unified_cgroups()
        )
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
            given = config_doc.get("Hostname")
            if not given and host_config.network_mode == "host":
                given = os.uname().nodename  # dockerd's: the host's network, the host's name
            config_doc["Hostname"] = container_hostname(given, container_id)
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
            except NameTaken as taken:
                if canonical is None:
                    continue  # a random name collided: draw another
                raise name_conflict(wanted, taken.owner) from None
            return Created(container_id, warnings, position)
        raise InvalidParameter("could not find a free random name; give one with --name")

    def _claim_and_save(self, container: Container, wanted: str, cause: Cause) -> int:
        # On a conflict the claim is decided again: a name someone else wrote first is
        # theirs now (`NameTaken`), a name released meanwhile is claimed.
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
    # Containers: queries -------------------------------------------------------------------

    def list_containers(
        self,
        all: bool = False,
        *,
        limit: int | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """`docker ps`: newest first, with Docker's `all`, `limit` and `filters`."""
        listed: list[dict[str, Any]] = json.loads(self.container_listing(all, limit, filters))
        return listed

    def container_listing(
        self,
        all_: bool = False,
        limit: int | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> bytes:
        """The `/containers/json` body of `list_containers`."""
        self.catch_up()
        now = self._clock().timestamp()
        filters = filters or {}
        states = container_list.listed_states(all_, limit, filters)
        if not filters:
            found = self.views.container_listing(states, limit if limit and limit > 0 else None)
            return container_list.listing_json(found, now)
        chosen = container_list.select(
            container_list.entries(self.views.container_listing(states), now),
            limit,
            filters,
            self.resolve_container,
            self.images.resolve,
        )
        return container_list.entries_json(chosen)

    def list_fleet(self, host: str | None = None) -> list[dict[str, Any]]:
        """`ps --fleet`: every host's containers (or one host's), each with its "Host",
        newest first; a lone host's are its own, under host ""."""
        listed: list[dict[str, Any]] = json.loads(self.fleet_listing(host))
        return listed

    def fleet_listing(self, host: str | None = None) -> bytes:
        """The `GET /berth/fleet/containers` body of `list_fleet`."""
        self.catch_up()
        now = self._clock().timestamp()
        if not self.host_id:
            found = [(*each, "") for each in self.views.container_listing()]
        else:
            found = self.views.fleet_listing(host)
        return container_list.fleet_listing_json(found, now)

    def inspect_container(self, ref: str) -> dict[str, Any]:
        container_id = self.resolve_container(ref)
        self.catch_up()  # a full id resolves without the views; a save may not have projected
        row = self.views.container_row(container_id)
        if row is None:
            raise NotFound(f"No such container: {ref}")
        doc: dict[str, Any] = row["doc"]
        return doc

    def history(self, container_id: str) -> list[LoggedEvent]:
        """Every event of one container, oldest first, removed containers included."""
        return self.store.aggregate_log(container_id)
