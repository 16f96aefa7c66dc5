"""The Image aggregate made by a pull, a load or an import: its state, its checks, its short id."""

from __future__ import annotations

from typing import Any

import pytest

from berth.domain.cause import Actor, ActorKind
from berth.domain.errors import InvalidParameter
from berth.domain.image import Image, short_image_id

from .image_factories import (
    ALPINE,
    AT,
    BUSYBOX,
    CONFIG,
    IMAGE_ID,
    LAYERS,
    MANIFEST,
    REPO_DIGEST,
    loaded,
    pulled,
)


def test_pull_creates_image_with_its_state() -> None:
    image = pulled()
    assert image.id == IMAGE_ID
    assert image.version == 1
    assert image.tags == [BUSYBOX]
    assert image.repo_digests == [REPO_DIGEST]
    assert image.manifest_digest == MANIFEST
    assert image.config == CONFIG
    assert image.layers == LAYERS
    assert image.size == 2_000
    assert image.created == "2024-04-01T10:00:00.123456789Z"
    assert image.source == "pull"
    assert image.deleted is False
    [event] = image.pending_events
    assert isinstance(event, Image.Pulled)
    assert type(event).TOPIC == "berth.image.Pulled"
    assert Image.TOPIC == "berth.image"
    assert event.timestamp == AT
    assert event.actor == Actor(ActorKind.API, uid=0, pid=1)
    assert event.correlation_id == "req-1"


def test_pull_by_digest_adds_no_tag() -> None:
    image = pulled(reference=REPO_DIGEST)
    assert image.tags == []
    assert image.repo_digests == [REPO_DIGEST]


def test_created_is_empty_when_config_has_none() -> None:
    image = pulled(config={"os": "linux"})
    assert image.created == ""


def test_state_does_not_alias_caller_lists() -> None:
    layers = [dict(LAYERS[0])]
    image = pulled(layers=layers)
    layers.append(dict(LAYERS[0]))
    assert len(image.layers) == 1


@pytest.mark.parametrize(
    "bad_id",
    [
        "3f" * 32,
        "sha256:" + "3f" * 31,
        "sha256:" + "3F" * 32,
        "sha512:" + "3f" * 32,
        "sha256:" + "3f" * 32 + "\n",
        "",
    ],
)
def test_pull_rejects_invalid_id(bad_id: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid image id"):
        pulled(id=bad_id)


@pytest.mark.parametrize(
    "overrides",
    [
        {"reference": ""},
        {"reference": "docker.io/library/busybox"},
        {"reference": "docker.io/library/busy box:latest"},
        {"reference": "docker.io/library/busybox@notadigest"},
        {"repo_digests": ["docker.io/library/busybox:latest"]},
        {"manifest_digest": "latest"},
        {"config": ["not", "an", "object"]},
        {"config": {"created": 12}},
        {"layers": [{"digest": "sha256:" + "22" * 32}]},
        {"layers": [{**LAYERS[0], "size": -1}]},
        {"layers": [{**LAYERS[0], "size": True}]},
        {"layers": [{**LAYERS[0], "diff_id": "nope"}]},
        {"layers": [{**LAYERS[0], "extra": 1}]},
        {"size": -5},
    ],
)
def test_pull_rejects_invalid_content(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        pulled(**overrides)


def test_load_creates_image_with_repo_tags() -> None:
    image = loaded(repo_tags=[BUSYBOX, ALPINE, BUSYBOX])
    assert image.tags == [BUSYBOX, ALPINE]
    assert image.repo_digests == []
    assert image.manifest_digest == ""
    assert image.source == "load"
    assert image.created == CONFIG["created"]
    [event] = image.pending_events
    assert isinstance(event, Image.Loaded)
    assert type(event).TOPIC == "berth.image.Loaded"
    assert event.repo_tags == [BUSYBOX, ALPINE]


def test_import_without_tags() -> None:
    image = loaded(source="import", repo_tags=[])
    assert image.source == "import"
    assert image.tags == []


@pytest.mark.parametrize(
    "overrides", [{"source": "pull"}, {"repo_tags": [REPO_DIGEST]}, {"id": "sha256:x"}]
)
def test_load_rejects_invalid_input(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        loaded(**overrides)


def test_short_id() -> None:
    assert short_image_id(IMAGE_ID) == "3f3f3f3f3f3f"
    assert pulled().short_id == "3f3f3f3f3f3f"
