"""Config value objects, property-based: Configs round-trip; arbitrary JSON is refused or stable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import Config, HealthConfig, HostConfig, NetworkingConfig
from berth.domain.config_json import DockerStruct
from berth.domain.errors import InvalidParameter

_text = st.text(max_size=12)
_texts = st.lists(_text, max_size=4).map(tuple)
_opt_texts = st.none() | _texts
_str_map = st.dictionaries(_text, _text, max_size=3)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_healthchecks = st.builds(
    HealthConfig,
    test=_texts,
    interval=_int64,
    timeout=_int64,
    start_period=_int64,
    start_interval=_int64,
    retries=st.integers(min_value=-(2**31), max_value=2**31),
)
_configs = st.builds(
    Config,
    hostname=_text,
    domainname=_text,
    user=_text,
    attach_stdin=st.booleans(),
    attach_stdout=st.booleans(),
    attach_stderr=st.booleans(),
    exposed_ports=st.lists(_text, unique=True, max_size=3).map(lambda ks: tuple(sorted(ks))),
    tty=st.booleans(),
    open_stdin=st.booleans(),
    stdin_once=st.booleans(),
    env=_opt_texts,
    cmd=_opt_texts,
    healthcheck=st.none() | _healthchecks,
    args_escaped=st.booleans(),
    image=_text,
    volumes=st.none() | st.lists(_text, unique=True, max_size=3).map(lambda ks: tuple(sorted(ks))),
    working_dir=_text,
    entrypoint=_opt_texts,
    network_disabled=st.booleans(),
    mac_address=_text,
    on_build=_opt_texts,
    labels=st.none() | _str_map,
    stop_signal=_text,
    stop_timeout=st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    shell=_texts,
)


@given(_configs)
def test_config_round_trips_through_docker_json(config: Config) -> None:
    wire = json.loads(json.dumps(config.to_docker()))
    assert Config.from_docker(wire) == config


_json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _documents(cls: type[DockerStruct]) -> st.SearchStrategy[dict[str, Any]]:
    keys = [f.metadata["docker"] for f in cls.__dataclass_fields__.values()]  # type: ignore[attr-defined]
    return st.dictionaries(st.sampled_from(keys), _json_values, max_size=6)


@pytest.mark.parametrize("cls", [Config, HostConfig, NetworkingConfig])
@given(data=st.data())
def test_arbitrary_json_is_either_refused_or_stable(
    cls: type[DockerStruct], data: st.DataObject
) -> None:
    doc = data.draw(_documents(cls))
    try:
        value = cls.from_docker(doc)
    except InvalidParameter as err:
        assert err.message.startswith("json: cannot unmarshal ")
        return
    assert cls.from_docker(json.loads(json.dumps(value.to_docker()))) == value
