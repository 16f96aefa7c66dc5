"""Fixtures shared by the adapter tests: a content store, and a runc harness that cleans up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.adapters.content import ContentStore

from .runc_harness import Harness


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    left = h.leftovers()
    if any(left.values()):
        h.force_clean()
    assert not any(left.values()), f"left behind: {left}"
