"""The Image aggregate's references: merged by pulling again, added by tag, removed by untag."""

from __future__ import annotations

import pytest

from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.image import Image, repository_of

from .image_factories import (
    ALPINE,
    BUSYBOX,
    BUSYBOX_1,
    CAUSE,
    LATER,
    MANIFEST,
    MANIFEST_2,
    REPO_DIGEST,
    REPO_DIGEST_2,
    assert_refused,
    loaded,
    pulled,
    repull,
)

# Pulling again -----------------------------------------------------------------------------


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
