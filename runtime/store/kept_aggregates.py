"""The engine's kept aggregates (ADR/0037), read without a query when the engine is the
log's only writer (ADR/0052).

A root has one engine (ADR/0021): on its SQLite log, every event saved while the engine
runs is saved by the engine. So the repository notes the version each aggregate has at
the log's head as far as this process knows (after each of its saves and each read that
queried the log), and a save leaves a copy of the saved aggregate among the kept ones: a
read whose kept copy is at the noted head answers that copy without asking the log for
newer events. Anything else reads through the library's fast-forward: an aggregate never
noted (or forgotten), and a kept copy older than the note. A store with other writers (a
fleet's PostgreSQL log) uses the library's repository as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from copy import deepcopy
from threading import Lock
from typing import Any

from eventsourcing.application import Cache, ProjectorFunction, Repository, project_aggregate

#: How many aggregates' heads are noted; a forgotten one costs its next read a query.
NOTED_HEADS = 4096


class KeptAggregates(Repository[str]):
    """The library's repository with an LRU cache, whose reads skip the fast-forward
    query when the kept copy is at the head this process saved or read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.cache is None:
            raise ValueError("kept aggregates need the repository's cache (cache_maxsize)")
        self._kept: Cache[str, Any] = self.cache
        self._heads: dict[str, int] = {}  # in the order noted: the oldest is forgotten
        self._heads_lock = Lock()

    def get(
        self,
        aggregate_id: str,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        copy = deepcopy_from_cache and self.deepcopy_from_cache
        if version is None:
            kept = self._kept_at_head(aggregate_id, copy)
            if kept is not None:
                return kept
        aggregate = super().get(
            aggregate_id,
            version=version,
            projector_func=projector_func,
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=deepcopy_from_cache,
        )
        if version is None:
            # At least this new at the query: a save committed meanwhile noted a newer one.
            self._note(aggregate_id, aggregate.version)
        return aggregate

    def saved(self, aggregates: Iterable[Any]) -> None:
        """After a committed save: each saved aggregate's version is the head, and a copy
        of it is kept unless a newer one is."""
        for aggregate in aggregates:
            self._note(aggregate.id, aggregate.version)
            with self._fastforward_locked(aggregate.id):
                kept = self._kept_copy(aggregate.id)
                if kept is None or kept.version < aggregate.version:
                    self._kept.put(aggregate.id, deepcopy(aggregate))

    def seen(self, aggregate_id: str, version: int) -> None:
        """An event of `version` was read from the log: the aggregate is at least that new,
        whether or not the save that wrote it has told `saved` yet (a reactor reads the
        log as soon as the save commits, before the saving thread notes it)."""
        self._note(aggregate_id, version)

    def forget(self, aggregate_ids: Iterable[str | None]) -> None:
        """After a save refused because another writer got there first: those
        aggregates' next reads ask the log."""
        with self._heads_lock:
            for aggregate_id in aggregate_ids:
                if aggregate_id is not None:
                    self._heads.pop(aggregate_id, None)

    def _note(self, aggregate_id: str, version: int) -> None:
        with self._heads_lock:
            noted = self._heads.pop(aggregate_id, -1)
            self._heads[aggregate_id] = max(noted, version)
            if len(self._heads) > NOTED_HEADS:
                del self._heads[next(iter(self._heads))]

    def _kept_at_head(self, aggregate_id: str, copy: bool) -> Any:
        head = self._heads.get(aggregate_id)
        if head is None:
            return None
        with self._fastforward_locked(aggregate_id):
            kept = self._kept_copy(aggregate_id)
            if kept is None or kept.version < head:
                return None
            return deepcopy(kept) if copy else kept

    def _kept_copy(self, aggregate_id: str) -> Any:
        try:
            return self._kept.get(aggregate_id)
        except KeyError:
            return None

    @contextlib.contextmanager
    def _fastforward_locked(self, aggregate_id: str) -> Iterator[None]:
        """The library's lock of one aggregate: a fast-forward changes the kept copy in
        place under it."""
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            with lock:
                yield
        finally:
            self._disuse_fastforward_lock(aggregate_id)
