"""Unit tests for the Image aggregate."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotFound
from berth.domain.image import Image, repository_of, short_image_id

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


# Creation ----------------------------------------------------------------------------------


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


# Pulling again -----------------------------------------------------------------------------


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


def test_repull_records_pulled_again_and_merges_references() -> None:
    image = pulled()
    repull(image, BUSYBOX_1)
    assert image.version == 2
    assert [type(e) for e in image.pending_events] == [Image.Pulled, Image.Pulled]
    assert image.pending_events[1].timestamp == LATER.at
    assert image.tags == [BUSYBOX, BUSYBOX_1]
    assert image.repo_digests == [REPO_DIGEST, REPO_DIGEST_2]
    assert image.manifest_digest == MANIFEST_2
    assert image.source == "pull"


def test_repull_of_held_reference_and_digest_duplicates_nothing() -> None:
    image = pulled()
    repull(image, BUSYBOX, digest=MANIFEST)
    assert image.version == 2
    assert image.tags == [BUSYBOX]
    assert image.repo_digests == [REPO_DIGEST]


def test_repull_rejects_invalid_reference_without_recording() -> None:
    image = pulled()
    assert_refused(image, InvalidParameter, None, lambda: repull(image, "no tag here"))


def test_repull_of_loaded_image_adds_digest() -> None:
    image = loaded(repo_tags=[])
    repull(image, BUSYBOX)
    assert image.tags == [BUSYBOX]
    assert image.repo_digests == [REPO_DIGEST_2]
    assert image.source == "load"


# Tags --------------------------------------------------------------------------------------


def test_tag_adds_reference_in_order() -> None:
    image = pulled()
    assert image.tag(ALPINE, CAUSE) is True
    assert image.tag(BUSYBOX_1, CAUSE) is True
    assert image.tags == [BUSYBOX, ALPINE, BUSYBOX_1]
    assert image.version == 3
    event = image.pending_events[-1]
    assert isinstance(event, Image.Tagged)
    assert type(event).TOPIC == "berth.image.Tagged"
    assert event.reference == BUSYBOX_1


def test_tag_already_held_records_nothing() -> None:
    image = pulled()
    events_before = list(image.pending_events)
    assert image.tag(BUSYBOX, CAUSE) is False
    assert image.pending_events == events_before
    assert image.version == 1
    assert image.tags == [BUSYBOX]


@pytest.mark.parametrize("bad", [REPO_DIGEST, "docker.io/library/busybox", "", "a b:c"])
def test_tag_rejects_invalid_reference(bad: str) -> None:
    image = pulled()
    assert_refused(image, InvalidParameter, None, lambda: image.tag(bad, CAUSE))


def test_untag_removes_reference() -> None:
    image = pulled()
    image.tag(ALPINE, CAUSE)
    image.untag(BUSYBOX, CAUSE)
    assert image.tags == [ALPINE]
    event = image.pending_events[-1]
    assert isinstance(event, Image.Untagged)
    assert type(event).TOPIC == "berth.image.Untagged"
    assert event.reference == BUSYBOX
    assert image.deleted is False


def test_untag_removes_repo_digest() -> None:
    image = pulled()
    image.untag(REPO_DIGEST, CAUSE)
    assert image.repo_digests == []
    assert image.tags == [BUSYBOX]


def test_untag_of_reference_not_held_is_not_found() -> None:
    image = pulled()
    assert_refused(image, NotFound, f"No such image: {ALPINE}", lambda: image.untag(ALPINE, CAUSE))


# Deletion ----------------------------------------------------------------------------------


def test_delete_records_deleted() -> None:
    image = pulled()
    image.delete(CAUSE, force=False, used_by=[])
    assert image.deleted is True
    assert image.tags == []
    assert image.repo_digests == []
    event = image.pending_events[-1]
    assert isinstance(event, Image.Deleted)
    assert type(event).TOPIC == "berth.image.Deleted"


def test_delete_used_by_container_needs_force() -> None:
    image = pulled()
    assert_refused(
        image,
        Conflict,
        "conflict: unable to delete 3f3f3f3f3f3f (must be forced) - "
        "image is being used by stopped container 0123456789ab",
        lambda: image.delete(CAUSE, force=False, used_by=[CONTAINER_ID]),
    )
    assert image.deleted is False
    image.delete(CAUSE, force=True, used_by=[CONTAINER_ID])
    assert image.deleted is True


def test_delete_with_several_tags_needs_force() -> None:
    image = pulled()
    image.tag(BUSYBOX_1, CAUSE)
    assert_refused(
        image,
        Conflict,
        "conflict: unable to delete 3f3f3f3f3f3f (must be forced) - "
        "image is referenced in multiple repositories",
        lambda: image.delete(CAUSE, force=False, used_by=[]),
    )
    image.delete(CAUSE, force=True, used_by=[])
    assert image.deleted is True


def test_delete_with_one_tag_and_a_digest_of_another_repository_needs_force() -> None:
    image = pulled()
    repull(image, f"docker.io/library/alpine@{MANIFEST_2}")
    assert image.tags == [BUSYBOX]
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        image.delete(CAUSE, force=False, used_by=[])


def test_delete_with_one_tag_and_digests_of_the_same_repository() -> None:
    image = pulled()
    repull(image, f"docker.io/library/busybox@{MANIFEST_2}")
    image.delete(CAUSE, force=False, used_by=[])
    assert image.deleted is True


def test_deleted_image_refuses_every_command_but_coming_back() -> None:
    image = pulled()
    image.delete(CAUSE, force=False, used_by=[])
    message = f"No such image: {IMAGE_ID}"
    assert_refused(image, NotFound, message, lambda: image.tag(ALPINE, CAUSE))
    assert_refused(image, NotFound, message, lambda: image.untag(BUSYBOX, CAUSE))
    assert_refused(image, NotFound, message, lambda: image.delete(CAUSE, force=True, used_by=[]))


def test_a_deleted_image_pulled_again_comes_back() -> None:
    image = pulled()
    image.delete(CAUSE, force=False, used_by=[])
    repull(image, BUSYBOX)
    assert not image.deleted
    assert image.tags == [BUSYBOX]
    assert state_of(replay(image)) == state_of(image)


def test_a_deleted_image_loaded_again_comes_back_and_a_live_one_gains_tags() -> None:
    image = pulled()
    image.delete(CAUSE, force=False, used_by=[])
    image.reload(
        source="load",
        config=image.config,
        layers=image.layers,
        size=image.size,
        repo_tags=[ALPINE],
        cause=CAUSE,
    )
    assert not image.deleted and image.tags == [ALPINE]
    version = image.version
    image.reload(
        source="load",
        config=image.config,
        layers=image.layers,
        size=image.size,
        repo_tags=[ALPINE, BUSYBOX],
        cause=CAUSE,
    )
    assert image.tags == [ALPINE, BUSYBOX] and image.version == version + 1
    assert state_of(replay(image)) == state_of(image)


# Events ------------------------------------------------------------------------------------


def full_history() -> Image:
    image = pulled()
    repull(image, BUSYBOX_1)
    image.tag(ALPINE, CAUSE)
    image.untag(BUSYBOX, CAUSE)
    return image


def test_replaying_events_rebuilds_the_same_state() -> None:
    image = full_history()
    rebuilt = replay(image)
    assert state_of(rebuilt) == state_of(image)
    assert rebuilt.tags == [BUSYBOX_1, ALPINE]

    image.delete(CAUSE, force=True, used_by=[])
    assert state_of(replay(image)) == state_of(image)
    assert replay(loaded()).tags == [BUSYBOX]


def test_event_fields_round_trip_through_msgpack() -> None:
    image = full_history()
    image.delete(CAUSE, force=True, used_by=[])
    image2 = loaded()
    for event in [*image.pending_events, *image2.pending_events]:
        assert dataclasses.is_dataclass(event)
        fields = {
            f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "actor"
        }
        packed = msgpack.packb(fields, datetime=True)
        assert msgpack.unpackb(packed, timestamp=3) == fields


def test_short_id() -> None:
    assert short_image_id(IMAGE_ID) == "3f3f3f3f3f3f"
    assert pulled().short_id == "3f3f3f3f3f3f"


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        (BUSYBOX, "docker.io/library/busybox"),
        (REPO_DIGEST, "docker.io/library/busybox"),
        ("localhost:5000/app:v1", "localhost:5000/app"),
        ("localhost:5000/app", "localhost:5000/app"),
    ],
)
def test_repository_of(reference: str, repository: str) -> None:
    assert repository_of(reference) == repository
