"""The Image aggregate's events: replayed they rebuild the same state; they survive msgpack."""

from __future__ import annotations

import dataclasses

import msgpack

from berth.domain.image import Image

from .image_factories import (
    ALPINE,
    BUSYBOX,
    BUSYBOX_1,
    CAUSE,
    loaded,
    pulled,
    replay,
    repull,
    state_of,
)


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
