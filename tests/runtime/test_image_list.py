"""`GET /images/json` filters: what `docker images --filter` and `docker images REPO` show."""

from __future__ import annotations

from typing import Any

import pytest

from berth.domain.errors import InvalidParameter
from berth.runtime.service.engine import Engine
from berth.runtime.views.filters import parse_query_filters
from berth.runtime.views.image_list import select_images

from ..conftest import API, BUSYBOX_CONFIG, BUSYBOX_ID, image_id_of

LABELLED = {
    **BUSYBOX_CONFIG,
    "created": "2025-01-01T00:00:00Z",
    "config": {**BUSYBOX_CONFIG["config"], "Labels": {"tier": "web", "team": "a"}},  # type: ignore[dict-item]
}
LABELLED_ID = image_id_of(LABELLED)
UNTAGGED = {**BUSYBOX_CONFIG, "created": "2026-01-01T00:00:00Z"}
UNTAGGED_ID = image_id_of(UNTAGGED)


@pytest.fixture
def entries(engine: Engine) -> list[dict[str, Any]]:
    engine.images.record_loaded(LABELLED_ID, LABELLED, [], 5, ["127.0.0.1:5000/app:1"], API)
    engine.images.record_loaded(UNTAGGED_ID, UNTAGGED, [], 5, [], API)
    return engine.images.list_entries()


def ids(entries: list[dict[str, Any]], filters: str) -> set[str]:
    return {e["Id"] for e in select_images(entries, parse_query_filters(filters))}


def test_no_filter_lists_every_image(entries: list[dict[str, Any]]) -> None:
    assert ids(entries, "") == {BUSYBOX_ID, LABELLED_ID, UNTAGGED_ID}


@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ('{"reference": ["busybox"]}', {BUSYBOX_ID}),
        ('{"reference": ["busybox:latest"]}', {BUSYBOX_ID}),
        ('{"reference": ["busy*"]}', {BUSYBOX_ID}),
        ('{"reference": ["127.0.0.1:5000/app"]}', {LABELLED_ID}),
        ('{"reference": ["busybox", "127.0.0.1:5000/app:1"]}', {BUSYBOX_ID, LABELLED_ID}),
        ('{"reference": ["nothing"]}', set()),
        ('{"dangling": ["true"]}', {UNTAGGED_ID}),
        ('{"dangling": ["false"]}', {BUSYBOX_ID, LABELLED_ID}),
        ('{"label": ["tier"]}', {LABELLED_ID}),
        ('{"label": ["tier=web", "team=a"]}', {LABELLED_ID}),
        ('{"label": ["tier=db"]}', set()),
        ('{"before": ["127.0.0.1:5000/app:1"]}', {BUSYBOX_ID}),
        ('{"since": ["busybox"]}', {LABELLED_ID, UNTAGGED_ID}),
        ('{"since": ["busybox"], "dangling": ["false"]}', {LABELLED_ID}),
    ],
)
def test_filters_select_as_dockerd(
    entries: list[dict[str, Any]], filters: str, wanted: set[str]
) -> None:
    assert ids(entries, filters) == wanted


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ('{"color": ["red"]}', "Invalid filter 'color'"),
        ('{"dangling": ["maybe"]}', "Invalid filter 'dangling=[maybe]'"),
        ('{"before": ["nosuch:1"]}', "No such image: nosuch:1"),
    ],
)
def test_bad_filters_are_refused(entries: list[dict[str, Any]], filters: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[").replace("]", r"\]")):
        select_images(entries, parse_query_filters(filters))
