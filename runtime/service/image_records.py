"""Image events: recording pulls, loads, tags and deletions, and reading the image views.

Tags are unique across images: a tag that moves to a new image is untagged from the old
one in the same transaction, as `docker pull` of a newer `latest` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.container import short_id
from berth.domain.errors import Conflict, NotFound
from berth.domain.image import Image, is_tag_reference, repository_of, short_image_id
from berth.domain.reference import parse_reference

from ..store.unit_of_work import unit_of_work
from ..views import images
from ..views.projections import ProjectionStore


class Recorder(Protocol):
    """What the image records need of the engine (which owns them)."""

    views: ProjectionStore

    def catch_up(self) -> int: ...
    def get_aggregate(self, aggregate_id: str) -> Any: ...
    def find_aggregate(self, aggregate_id: str) -> Any: ...
    def cause(self, actor: Actor, correlation_id: str | None = None) -> Cause: ...
    def save(self, *aggregates: StrIdAggregate, project: bool | None = None) -> int: ...
    def containers_using(self, image_id: str) -> list[str]: ...


_HEX = frozenset("0123456789abcdef")


class ImageRecords:
    """The image side of the engine (the event store and the image views)."""

    def __init__(self, engine: Recorder) -> None:
        self._engine = engine

    # Queries ---------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """An image id from a reference, a full id or a unique id prefix."""
        engine = self._engine
        engine.catch_up()
        hex_part = ref.removeprefix("sha256:")
        if hex_part and set(hex_part) <= _HEX and len(hex_part) <= 64:
            ids = [r["id"] for r in engine.views.image_rows() if r["id"][7:].startswith(hex_part)]
            if len(ids) == 1:
                return str(ids[0])
        reference = parse_reference(ref)
        image_id = engine.views.image_id_for_reference(str(reference))
        if image_id is None and reference.digest is not None:
            # `repository@digest`, as a pull recorded it (dockerd resolves these too).
            pinned = f"{reference.repository}@{reference.digest}"
            found = [r["id"] for r in engine.views.image_rows() if pinned in r["repo_digests"]]
            image_id = str(found[0]) if found else None
        if image_id is None:
            raise NotFound(f"No such image: {reference.familiar}")
        return image_id

    def row(self, ref: str) -> dict[str, Any]:
        found = self._engine.views.image_row(self.resolve(ref))
        if found is None:
            raise NotFound(f"No such image: {ref}")
        return found

    def list_entries(self) -> list[dict[str, Any]]:
        self._engine.catch_up()
        return [images.list_entry(row) for row in self._engine.views.image_rows()]

    def inspect(self, ref: str) -> dict[str, Any]:
        return images.inspect_document(self.row(ref))

    def live_rows(self) -> list[dict[str, Any]]:
        self._engine.catch_up()
        return self._engine.views.image_rows()

    def aggregate(self, image_id: str) -> Image | None:
        found: Image | None = self._engine.find_aggregate(image_id)
        return found

    # Recording -------------------------------------------------------------------------------

    def _write(self, actor: Actor, decide: Callable[[Cause], Sequence[StrIdAggregate]]) -> None:
        cause = self._engine.cause(actor)
        unit_of_work(lambda: decide(cause), self._engine.save, "images")

    def _take_tags(self, tags: list[str], image_id: str, cause: Cause) -> list[Image]:
        """Untag `tags` from whichever other images hold them now."""
        holders: dict[str, Image] = {}
        for tag in tags:
            holder_id = self._engine.views.image_id_for_reference(tag)
            if holder_id is None or holder_id == image_id:
                continue
            holder = holders.get(holder_id) or self._engine.get_aggregate(holder_id)
            holders[holder_id] = holder
            holder.untag(tag, cause)
        return list(holders.values())

    def record_loaded(
        self,
        image_id: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        repo_tags: list[str],
        actor: Actor,
        source: str = "load",
    ) -> None:
        """An image that arrived by `load` or `import`; its tags move to it."""
        tags = [str(parse_reference(tag)) for tag in repo_tags]

        def decide(cause: Cause) -> list[Image]:
            previous = self._take_tags(tags, image_id, cause)
            image = self.aggregate(image_id)
            fields: dict[str, Any] = dict(
                source=source, config=config, layers=layers, size=size, repo_tags=tags
            )
            if image is None:
                image = Image.load(id=image_id, cause=cause, **fields)
            else:
                image.reload(cause=cause, **fields)
            return [image, *previous]

        self._write(actor, decide)

    def record_pulled(
        self,
        image_id: str,
        reference: str,
        repo_digest: str,
        manifest_digest: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        actor: Actor,
        also: Callable[[Cause], StrIdAggregate] | None = None,
    ) -> bool:
        """A pull; True when it brought a new image (not one already held under this name).
        `also`: what else the pull records in its transaction (the trust policy's check)."""
        tags = [reference] if is_tag_reference(reference) else []
        outcome = {"new": True}

        def decide(cause: Cause) -> list[StrIdAggregate]:
            extra = [also(cause)] if also is not None else []
            return [*pulled(cause), *extra]

        def pulled(cause: Cause) -> list[Image]:
            previous = self._take_tags(tags, image_id, cause)
            image = self.aggregate(image_id)
            fields: dict[str, Any] = dict(
                reference=reference,
                repo_digests=[repo_digest],
                manifest_digest=manifest_digest,
                config=config,
                layers=layers,
                size=size,
            )
            if image is None:
                return [Image.pull(id=image_id, cause=cause, **fields), *previous]
            outcome["new"] = image.deleted or not (
                reference in image.tags or repo_digest in image.repo_digests
            )
            image.repull(cause=cause, **fields)
            return [image, *previous]

        self._write(actor, decide)
        return outcome["new"]

    def tag(self, source: str, target: str, actor: Actor) -> None:
        image_id = self.resolve(source)
        reference = str(parse_reference(target))
        if not is_tag_reference(reference):
            raise Conflict("refusing to create a tag with a digest reference")

        def decide(cause: Cause) -> list[Image]:
            previous = self._take_tags([reference], image_id, cause)
            image = self._engine.get_aggregate(image_id)
            image.tag(reference, cause)
            return [image, *previous]

        self._write(actor, decide)

    def remove(self, ref: str, actor: Actor, force: bool = False) -> list[dict[str, str]]:
        """`docker rmi`: untag a tag that is not the last, else delete the image.

        Answers Docker's list of `{"Untagged": ...}` and `{"Deleted": ...}` entries.
        """
        image_id = self.resolve(ref)
        hex_part = ref.removeprefix("sha256:")
        by_tag = not (set(hex_part) <= _HEX and image_id[7:].startswith(hex_part))
        reference = str(parse_reference(ref)) if by_tag else ""
        users = self._engine.containers_using(image_id)
        answer: list[dict[str, str]] = []

        def decide(cause: Cause) -> list[Image]:
            answer.clear()
            image = self._engine.get_aggregate(image_id)
            names = [*image.tags, *image.repo_digests]
            if by_tag:
                # As dockerd: untagging the last tag of a repository also drops that
                # repository's digest references; any other name keeps the image.
                repo = repository_of(reference)
                dropped = [reference]
                if not any(
                    is_tag_reference(n) and repository_of(n) == repo and n != reference
                    for n in names
                ):
                    dropped += [n for n in image.repo_digests if repository_of(n) == repo]
                if set(names) - set(dropped):
                    for name in dropped:
                        image.untag(name, cause)
                        answer.append({"Untagged": parse_reference(name).familiar})
                    return [image]
                if users and not force:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) '
                        f"- container {short_id(users[0])} is using its referenced image "
                        f"{short_image_id(image_id)}"
                    )
            image.delete(cause, force=force or by_tag, used_by=users)
            answer.extend({"Untagged": parse_reference(name).familiar} for name in names)
            answer.append({"Deleted": image_id})
            return [image]

        self._write(actor, decide)
        return answer
