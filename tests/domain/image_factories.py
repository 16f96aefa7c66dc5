"""Builders for the Image aggregate's tests: pulled, loaded and re-pulled images, and checks
of refused commands and of replayed events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.errors import BerthError
from berth.domain.image import Image, repository_of

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CAUSE = Cause(at=AT, actor=Actor(ActorKind.API, uid=0, pid=1), correlation_id="req-1")
LATER = Cause(
    at=datetime(2024, 5, 2, 8, 30, tzinfo=UTC),
    actor=Actor(ActorKind.CLI, uid=1000, pid=42),
    correlation_id="req-2",
)

IMAGE_ID = "sha256:" + "3f" * 32
BUSYBOX = "docker.io/library/busybox:latest"
BUSYBOX_1 = "docker.io/library/busybox:1.36"
ALPINE = "docker.io/library/alpine:3.19"
MANIFEST = "sha256:" + "ab" * 32
MANIFEST_2 = "sha256:" + "cd" * 32
REPO_DIGEST = f"docker.io/library/busybox@{MANIFEST}"
REPO_DIGEST_2 = f"docker.io/library/busybox@{MANIFEST_2}"
CONTAINER_ID = "0123456789ab" + "c" * 52
CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-04-01T10:00:00.123456789Z",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "11" * 32]},
}
LAYERS: list[dict[str, Any]] = [
    {
        "digest": "sha256:" + "22" * 32,
        "diff_id": "sha256:" + "11" * 32,
        "size": 2_000,
        "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
    }
]


def pulled(reference: str = BUSYBOX, **overrides: Any) -> Image:
    fields: dict[str, Any] = {
        "id": IMAGE_ID,
        "reference": reference,
        "repo_digests": [REPO_DIGEST],
        "manifest_digest": MANIFEST,
        "config": CONFIG,
        "layers": LAYERS,
        "size": 2_000,
        "cause": CAUSE,
    }
    fields.update(overrides)
    return Image.pull(**fields)


def loaded(**overrides: Any) -> Image:
    fields: dict[str, Any] = {
        "id": IMAGE_ID,
        "source": "load",
        "config": CONFIG,
        "layers": LAYERS,
        "size": 2_000,
        "repo_tags": [BUSYBOX],
        "cause": CAUSE,
    }
    fields.update(overrides)
    return Image.load(**fields)


def assert_refused(
    image: Image, error: type[BerthError], message: str | None, command: Callable[[], object]
) -> None:
    """The command raises `error` (with `message`, if given) and records nothing."""
    events_before = list(image.pending_events)
    version_before = image.version
    tags_before = list(image.tags)
    with pytest.raises(error) as info:
        command()
    if message is not None:
        assert info.value.message == message
    assert image.pending_events == events_before
    assert image.version == version_before
    assert image.tags == tags_before


def replay(image: Image) -> Image:
    rebuilt: Any = None
    for event in image.pending_events:
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Image)
    return rebuilt


STATE = ("tags", "repo_digests", "manifest_digest", "config", "layers", "size", "created")


def state_of(image: Image) -> dict[str, Any]:
    return {name: getattr(image, name) for name in (*STATE, "source", "deleted", "version")}


def repull(image: Image, reference: str, digest: str = MANIFEST_2) -> None:
    image.repull(
        reference=reference,
        repo_digests=[f"{repository_of(reference)}@{digest}"],
        manifest_digest=digest,
        config=CONFIG,
        layers=LAYERS,
        size=2_000,
        cause=LATER,
    )
