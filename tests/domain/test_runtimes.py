"""HostConfig.Runtime at create (domain/runtimes.py): dockerd's refusal of a runtime the
host does not offer, the default recorded for none."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.runtimes import RuntimeNames, asked_runtime

OFFERED = RuntimeNames("crun", ("crun", "runc"))


def test_none_asked_records_the_default_and_an_offered_one_is_kept() -> None:
    assert OFFERED.resolve("") == "crun"
    assert OFFERED.resolve("runc") == "runc"
    assert RuntimeNames().resolve("") == "runc"


@given(st.text(min_size=1).filter(lambda name: name not in OFFERED.names))
def test_a_runtime_not_offered_is_refused_in_dockerds_words(name: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        OFFERED.resolve(name)
    assert refused.value.message == f"unknown or invalid runtime name: {name}"
    assert refused.value.http_status == 400


def test_the_runtime_docker_py_sends_beside_image_is_asked_unless_hostconfig_names_one() -> None:
    assert asked_runtime({"Image": "busybox", "Runtime": "runc"}, "") == "runc"
    assert asked_runtime({"Runtime": "runc"}, "crun") == "crun"
    assert asked_runtime({"Image": "busybox"}, "") == ""
    assert asked_runtime({"Runtime": ["runc"]}, "") == ""  # dockerd ignores the key
    assert OFFERED.resolve(asked_runtime({"Runtime": "runc"}, "")) == "runc"
