"""Image events through the engine: tags move between images, rmi answers as Docker does."""

from __future__ import annotations

import pytest

from berth.domain.errors import Conflict, NotFound
from berth.runtime.service.engine import Engine

from ..conftest import API, BUSYBOX_CONFIG, BUSYBOX_ID, image_id_of

OTHER_CONFIG = {**BUSYBOX_CONFIG, "created": "2025-01-01T00:00:00Z"}
OTHER_ID = image_id_of(OTHER_CONFIG)


def load_other(engine: Engine, tags: list[str]) -> None:
    engine.images.record_loaded(OTHER_ID, OTHER_CONFIG, [], 5, tags, API)


def test_a_tag_moves_to_the_newer_image_atomically(engine: Engine) -> None:
    load_other(engine, ["busybox:latest"])
    assert engine.images.resolve("busybox") == OTHER_ID
    entries = {e["Id"]: e["RepoTags"] for e in engine.images.list_entries()}
    assert entries == {OTHER_ID: ["busybox:latest"], BUSYBOX_ID: []}


def test_pull_records_digest_and_tag(engine: Engine) -> None:
    new = engine.images.record_pulled(
        OTHER_ID,
        "127.0.0.1:5000/library/app:1",
        "127.0.0.1:5000/library/app@sha256:" + "9" * 64,
        "sha256:" + "9" * 64,
        OTHER_CONFIG,
        [],
        5,
        API,
    )
    assert new is True
    again = engine.images.record_pulled(
        OTHER_ID,
        "127.0.0.1:5000/library/app:1",
        "127.0.0.1:5000/library/app@sha256:" + "9" * 64,
        "sha256:" + "9" * 64,
        OTHER_CONFIG,
        [],
        5,
        API,
    )
    assert again is False  # "Image is up to date"
    (entry,) = [e for e in engine.images.list_entries() if e["Id"] == OTHER_ID]
    assert entry["RepoTags"] == ["127.0.0.1:5000/library/app:1"]
    assert entry["RepoDigests"] == ["127.0.0.1:5000/library/app@sha256:" + "9" * 64]


def test_rmi_of_one_of_several_tags_only_untags(engine: Engine) -> None:
    engine.images.tag("busybox", "mine:1", API)
    assert engine.images.remove("mine:1", API) == [{"Untagged": "mine:1"}]
    assert engine.images.resolve("busybox") == BUSYBOX_ID


def test_rmi_of_the_last_tag_deletes(engine: Engine) -> None:
    assert engine.images.remove("busybox", API) == [
        {"Untagged": "busybox:latest"},
        {"Deleted": BUSYBOX_ID},
    ]
    assert engine.images.list_entries() == []
    with pytest.raises(NotFound, match="No such image: busybox:latest"):
        engine.images.resolve("busybox")


def test_rmi_of_an_image_a_container_uses_is_refused_unless_forced(engine: Engine) -> None:
    cid = engine.create_container({"Image": "busybox"}, "web", API).id
    before = engine.store.max_position()
    with pytest.raises(Conflict) as by_tag:
        engine.images.remove("busybox", API)
    assert by_tag.value.message == (
        'conflict: unable to remove repository reference "busybox" (must force) - container '
        f"{cid[:12]} is using its referenced image {BUSYBOX_ID[7:19]}"
    )
    with pytest.raises(Conflict) as by_id:
        engine.images.remove(BUSYBOX_ID[7:19], API)
    assert by_id.value.message == (
        f"conflict: unable to delete {BUSYBOX_ID[7:19]} (must be forced) - image is being used "
        f"by stopped container {cid[:12]}"
    )
    assert engine.store.max_position() == before
    answer = engine.images.remove("busybox", API, force=True)
    assert answer[-1] == {"Deleted": BUSYBOX_ID}
    assert engine.inspect_container("web")["Image"] == BUSYBOX_ID  # the container keeps it


def test_rmi_by_id_of_a_multiply_tagged_image_needs_force(engine: Engine) -> None:
    engine.images.tag("busybox", "mine:1", API)
    with pytest.raises(Conflict, match="image is referenced in multiple repositories"):
        engine.images.remove(BUSYBOX_ID, API)
    answer = engine.images.remove(BUSYBOX_ID, API, force=True)
    assert {"Untagged": "mine:1"} in answer and answer[-1] == {"Deleted": BUSYBOX_ID}


def test_a_deleted_image_loaded_again_is_back(engine: Engine) -> None:
    engine.images.remove("busybox", API)
    engine.images.record_loaded(BUSYBOX_ID, BUSYBOX_CONFIG, [], 10, ["busybox:2"], API)
    assert engine.images.resolve("busybox:2") == BUSYBOX_ID
    assert engine.images.inspect("busybox:2")["RepoTags"] == ["busybox:2"]
