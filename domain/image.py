"""The Image aggregate: an image's config, layers and the references that name it.

The id is the image's config digest (`sha256:<64 hex>`), as in Docker. References are
stored in their normalised form (`docker.io/library/busybox:latest`); normalising what a
user typed is the caller's job. A second pull of an image already held records `Pulled`
again on the same aggregate, so `Pulled` both creates an image and updates one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause
from .errors import Conflict, InvalidParameter, NotFound

T = "berth.image"

IMAGE_ID_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
# OCI image-spec digest grammar: algorithm ":" encoded.
DIGEST_PATTERN = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
LAYER_KEYS = frozenset({"digest", "diff_id", "size", "media_type"})
LOAD_SOURCES = ("load", "import", "commit")
SHORT_ID_LENGTH = 12


def is_image_id(text: str) -> bool:
    return bool(IMAGE_ID_PATTERN.fullmatch(text))


def short_image_id(image_id: str) -> str:
    """The 12 hex characters Docker shows: the digest without its `sha256:` prefix."""
    return image_id.removeprefix("sha256:")[:SHORT_ID_LENGTH]


def repository_of(reference: str) -> str:
    """The repository part of a reference: without its `:tag` or `@digest`."""
    if "@" in reference:
        return reference.split("@", 1)[0]
    colon = reference.rfind(":")
    if colon > reference.rfind("/"):
        return reference[:colon]
    return reference


def is_tag_reference(reference: str) -> bool:
    return "@" not in reference and repository_of(reference) != reference


def _check_reference(reference: object, what: str) -> str:
    if not isinstance(reference, str) or not reference or any(c.isspace() for c in reference):
        raise InvalidParameter(f"invalid {what} reference {reference!r}")
    return reference


def _check_tag(reference: object) -> str:
    ref = _check_reference(reference, "tag")
    if "@" in ref:
        raise InvalidParameter("refusing to create a tag with a digest reference")
    if not is_tag_reference(ref):
        raise InvalidParameter(f"invalid tag reference {ref!r}: expected a normalised repo:tag")
    return ref


def _check_repo_digest(reference: object) -> str:
    ref = _check_reference(reference, "digest")
    repo, _, digest = ref.partition("@")
    if not repo or not DIGEST_PATTERN.fullmatch(digest):
        raise InvalidParameter(f"invalid digest reference {ref!r}: expected repo@digest")
    return ref


def _check_pull_reference(reference: object) -> str:
    ref = _check_reference(reference, "image")
    return _check_repo_digest(ref) if "@" in ref else _check_tag(ref)


def _check_content(
    config: object, layers: object, size: object
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise InvalidParameter("image config must be a JSON object")
    created = config.get("created")
    if created is not None and not isinstance(created, str):
        raise InvalidParameter("image config field 'created' must be a string")
    if not isinstance(layers, list):
        raise InvalidParameter("image layers must be a list")
    checked: list[dict[str, Any]] = []
    for layer in layers:
        if not isinstance(layer, dict) or set(layer) != LAYER_KEYS:
            raise InvalidParameter(f"image layer must have exactly the keys {sorted(LAYER_KEYS)}")
        for key in ("digest", "diff_id"):
            if not isinstance(layer[key], str) or not DIGEST_PATTERN.fullmatch(layer[key]):
                raise InvalidParameter(f"invalid layer {key} {layer[key]!r}")
        layer_size = layer["size"]
        if not isinstance(layer_size, int) or isinstance(layer_size, bool) or layer_size < 0:
            raise InvalidParameter(f"invalid layer size {layer_size!r}")
        if not isinstance(layer["media_type"], str):
            raise InvalidParameter(f"invalid layer media type {layer['media_type']!r}")
        checked.append(dict(layer))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidParameter(f"invalid image size {size!r}")
    return dict(config), checked, size


def _check_id(image_id: object) -> str:
    if not isinstance(image_id, str) or not is_image_id(image_id):
        raise InvalidParameter(f"invalid image id {image_id!r}: need sha256:<64 lowercase hex>")
    return image_id


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class Image(StrIdAggregate):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

    @dataclass(frozen=True)
    class Pulled(Event, CreatedEvent):
        """Pulled from a registry: creates the image, or updates one pulled again."""

        TOPIC = f"{T}.Pulled"
        reference: str
        repo_digests: list[str]
        manifest_digest: str
        config: dict[str, Any]
        layers: list[dict[str, Any]]
        size: int

        def mutate(self, aggregate: Any) -> Any:
            if aggregate is None:
                return CanInitAggregate.mutate(self, None)
            return CanMutateAggregate.mutate(self, aggregate)

        def apply(self, i: Image) -> None:
            if self.originator_version == Image.INITIAL_VERSION or i.deleted:
                i._init_content(self.config, self.layers, self.size, "pull")
            else:
                i.config = self.config
                i.layers = list(self.layers)
                i.size = self.size
                i.created = str(self.config.get("created") or "")
            if is_tag_reference(self.reference) and self.reference not in i.tags:
                i.tags.append(self.reference)
            i.repo_digests = _unique([*i.repo_digests, *self.repo_digests])
            i.manifest_digest = self.manifest_digest

    @dataclass(frozen=True)
    class Loaded(Event, CreatedEvent):
        TOPIC = f"{T}.Loaded"
        source: str
        config: dict[str, Any]
        layers: list[dict[str, Any]]
        size: int
        repo_tags: list[str]

        def apply(self, i: Image) -> None:
            i._load(self.config, self.layers, self.size, self.source, self.repo_tags)

    @dataclass(frozen=True)
    class Reloaded(Event):
        """A deleted image loaded or imported again."""

        TOPIC = f"{T}.Reloaded"
        source: str
        config: dict[str, Any]
        layers: list[dict[str, Any]]
        size: int
        repo_tags: list[str]

        def apply(self, i: Image) -> None:
            i._load(self.config, self.layers, self.size, self.source, self.repo_tags)

    @dataclass(frozen=True)
    class Tagged(Event):
        TOPIC = f"{T}.Tagged"
        reference: str

        def apply(self, i: Image) -> None:
            i.tags.append(self.reference)

    @dataclass(frozen=True)
    class Untagged(Event):
        TOPIC = f"{T}.Untagged"
        reference: str

        def apply(self, i: Image) -> None:
            i.tags = [t for t in i.tags if t != self.reference]
            i.repo_digests = [d for d in i.repo_digests if d != self.reference]

    @dataclass(frozen=True)
    class Deleted(Event):
        TOPIC = f"{T}.Deleted"

        def apply(self, i: Image) -> None:
            i.deleted = True
            i.tags = []
            i.repo_digests = []

    if TYPE_CHECKING:
        # State, filled in by the events' apply(); see Container for why it lives here.
        tags: list[str]
        repo_digests: list[str]
        manifest_digest: str
        config: dict[str, Any]
        layers: list[dict[str, Any]]
        size: int
        created: str
        source: str
        deleted: bool

    def _load(
        self,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        source: str,
        repo_tags: list[str],
    ) -> None:
        self._init_content(config, layers, size, source)
        self.tags = _unique(list(repo_tags))

    def _init_content(
        self, config: dict[str, Any], layers: list[dict[str, Any]], size: int, source: str
    ) -> None:
        self.config = config
        self.layers = list(layers)
        self.size = size
        self.created = str(config.get("created") or "")
        self.source = source
        self.tags = []
        self.repo_digests = []
        self.manifest_digest = ""
        self.deleted = False

    # Creation -----------------------------------------------------------------------------

    @classmethod
    def pull(
        cls,
        *,
        id: str,
        reference: str,
        repo_digests: list[str],
        manifest_digest: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        cause: Cause,
    ) -> Image:
        fields = _pull_fields(reference, repo_digests, manifest_digest, config, layers, size)
        image: Image = cls._start(_check_id(id), cls.Pulled, cause, **fields)
        return image

    @classmethod
    def load(
        cls,
        *,
        id: str,
        source: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        repo_tags: list[str],
        cause: Cause,
    ) -> Image:
        if source not in LOAD_SOURCES:
            raise InvalidParameter(f"invalid image source {source!r}: need one of {LOAD_SOURCES}")
        checked_config, checked_layers, checked_size = _check_content(config, layers, size)
        if not isinstance(repo_tags, list):
            raise InvalidParameter("repo tags must be a list")
        tags = _unique([_check_tag(t) for t in repo_tags])
        image: Image = cls._start(
            _check_id(id),
            cls.Loaded,
            cause,
            source=source,
            config=checked_config,
            layers=checked_layers,
            size=checked_size,
            repo_tags=tags,
        )
        return image

    # Commands -----------------------------------------------------------------------------

    def reload(
        self,
        *,
        source: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        repo_tags: list[str],
        cause: Cause,
    ) -> None:
        """The same image loaded again: a deleted one comes back, a live one gains tags."""
        if source not in LOAD_SOURCES:
            raise InvalidParameter(f"invalid image source {source!r}: need one of {LOAD_SOURCES}")
        tags = _unique([_check_tag(t) for t in repo_tags])
        if not self.deleted:
            for tag in tags:
                self.tag(tag, cause)
            return
        checked_config, checked_layers, checked_size = _check_content(config, layers, size)
        self._record(
            self.Reloaded,
            cause,
            source=source,
            config=checked_config,
            layers=checked_layers,
            size=checked_size,
            repo_tags=tags,
        )

    @property
    def short_id(self) -> str:
        return short_image_id(self.id)

    def _check_exists(self) -> None:
        if self.deleted:
            raise NotFound(f"No such image: {self.id}")

    def repull(
        self,
        *,
        reference: str,
        repo_digests: list[str],
        manifest_digest: str,
        config: dict[str, Any],
        layers: list[dict[str, Any]],
        size: int,
        cause: Cause,
    ) -> None:
        """Record a later pull that resolved to this same image (same config digest).

        A deleted image pulled again comes back: its id is its content.
        """
        fields = _pull_fields(reference, repo_digests, manifest_digest, config, layers, size)
        self._record(self.Pulled, cause, originator_topic=get_topic(type(self)), **fields)

    def tag(self, reference: str, cause: Cause) -> bool:
        """Add a tag; False (and nothing recorded) if the image already holds it."""
        self._check_exists()
        ref = _check_tag(reference)
        if ref in self.tags:
            return False
        self._record(self.Tagged, cause, reference=ref)
        return True

    def untag(self, reference: str, cause: Cause) -> None:
        """Remove a tag or a repo digest reference the image holds."""
        self._check_exists()
        if reference not in self.tags and reference not in self.repo_digests:
            raise NotFound(f"No such image: {reference}")
        self._record(self.Untagged, cause, reference=reference)

    def references_multiple_repositories(self) -> bool:
        """Docker's `!isSingleReference`: more than one tag, or names in several repos."""
        if len(self.tags) > 1:
            return True
        repos = {repository_of(r) for r in [*self.tags, *self.repo_digests]}
        return len(repos) > 1

    def delete(self, cause: Cause, force: bool, used_by: list[str]) -> None:
        """Delete the image; `used_by` lists the ids of containers created from it."""
        self._check_exists()
        if not force:
            if self.references_multiple_repositories():
                raise Conflict(
                    f"conflict: unable to delete {self.short_id} (must be forced) - "
                    "image is referenced in multiple repositories"
                )
            if used_by:
                raise Conflict(
                    f"conflict: unable to delete {self.short_id} (must be forced) - "
                    f"image is being used by stopped container {used_by[0][:SHORT_ID_LENGTH]}"
                )
        self._record(self.Deleted, cause)


def _pull_fields(
    reference: str,
    repo_digests: list[str],
    manifest_digest: str,
    config: dict[str, Any],
    layers: list[dict[str, Any]],
    size: int,
) -> dict[str, Any]:
    ref = _check_pull_reference(reference)
    if not isinstance(repo_digests, list):
        raise InvalidParameter("repo digests must be a list")
    digests = _unique([_check_repo_digest(d) for d in repo_digests])
    if not isinstance(manifest_digest, str) or not DIGEST_PATTERN.fullmatch(manifest_digest):
        raise InvalidParameter(f"invalid manifest digest {manifest_digest!r}")
    checked_config, checked_layers, checked_size = _check_content(config, layers, size)
    return {
        "reference": ref,
        "repo_digests": digests,
        "manifest_digest": manifest_digest,
        "config": checked_config,
        "layers": checked_layers,
        "size": checked_size,
    }


def layer_chain(layers: Sequence[Mapping[str, Any]]) -> list[str]:
    """The chain ids of an image's recorded layers (each with its `diff_id`), bottom first."""
    return chain_ids([str(layer["diff_id"]) for layer in layers])


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The OCI chain ids of a layer stack, bottom first: each names a layer and all below it.

    ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
    """
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            joined = f"{chain[-1]} {diff_id}".encode()
            chain.append("sha256:" + hashlib.sha256(joined).hexdigest())
    return chain
