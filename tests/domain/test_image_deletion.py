"""The Image aggregate deleted: when it must be forced, and coming back after a pull or a load."""

from __future__ import annotations

import pytest

from berth.domain.errors import Conflict, NotFound
from berth.domain.image import Image

from .image_factories import (
    ALPINE,
    BUSYBOX,
    BUSYBOX_1,
    CAUSE,
    CONTAINER_ID,
    IMAGE_ID,
    MANIFEST_2,
    assert_refused,
    pulled,
    replay,
    repull,
    state_of,
)


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
