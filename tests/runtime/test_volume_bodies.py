"""`POST /volumes/create` bodies of any shape, at the service (the fake driver): a volume
is created, or the body is refused with a 4xx and nothing is recorded or made."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.domain.errors import BerthError
from berth.runtime.service.engine import Engine
from berth.runtime.service.volumes import VolumeService

from ..conftest import API
from ..fakes.volumes import FakeVolumes

TEXT = st.text(alphabet="ab./_-:\x00é ", max_size=4)
STRINGS = st.dictionaries(TEXT, TEXT, max_size=3)
VALUES = st.one_of(st.none(), st.integers(), TEXT, STRINGS, st.lists(TEXT, max_size=2))
BODIES = st.fixed_dictionaries(
    {},
    optional={
        "Name": st.one_of(TEXT, VALUES),
        "Driver": st.one_of(st.sampled_from(["", "local", "nfs"]), VALUES),
        "DriverOpts": st.one_of(
            STRINGS, st.dictionaries(st.sampled_from(["type", "device", "o", "x"]), TEXT)
        ),
        "Labels": st.one_of(STRINGS, VALUES),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_a_body_creates_a_volume_or_is_refused_recording_nothing(
    tmp_path_factory: pytest.TempPathFactory, body: dict[str, object]
) -> None:
    root = tmp_path_factory.mktemp("root")
    with Engine(root) as engine:
        volumes = VolumeService(engine, FakeVolumes(root))
        before = engine.store.max_position()
        try:
            made = trio.run(volumes.create, body, API)
        except BerthError as refused:
            assert 400 <= refused.http_status < 500, refused.message
            assert engine.store.max_position() == before
            assert not (root / "volumes").exists()
            return
        assert made["Name"] and made["Driver"] == "local"
        assert engine.volumes.row(made["Name"])["labels"] == body.get("Labels")
        assert Path(made["Mountpoint"]).is_dir()
