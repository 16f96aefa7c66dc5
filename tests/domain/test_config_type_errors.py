"""Config value objects refuse wrong JSON types with Go's message naming the field and type."""

from __future__ import annotations

from typing import Any

import pytest

from berth.domain.config import Config, HostConfig, NetworkingConfig
from berth.domain.config_json import DockerStruct
from berth.domain.errors import InvalidParameter


@pytest.mark.parametrize(
    ("cls", "doc", "value", "field", "go_type"),
    [
        (Config, {"Cmd": 1}, "number", "Config.Cmd", "[]string"),
        (Config, {"Entrypoint": {"a": 1}}, "object", "Config.Entrypoint", "[]string"),
        (Config, {"Env": "A=b"}, "string", "Config.Env", "[]string"),
        (Config, {"Env": ["A=b", 1]}, "number", "Config.Env", "string"),
        (Config, {"Labels": []}, "array", "Config.Labels", "map[string]string"),
        (Config, {"Labels": {"a": True}}, "bool", "Config.Labels", "string"),
        (Config, {"Tty": "yes"}, "string", "Config.Tty", "bool"),
        (Config, {"Hostname": 3}, "number", "Config.Hostname", "string"),
        (Config, {"StopTimeout": 1.5}, "number 1.5", "Config.StopTimeout", "int"),
        (Config, {"ExposedPorts": ["80/tcp"]}, "array", "Config.ExposedPorts", "nat.PortSet"),
        (Config, {"Volumes": {"/d": "x"}}, "string", "Config.Volumes", "struct {}"),
        (Config, {"Healthcheck": "none"}, "string", "Config.Healthcheck", "container.HealthConfig"),
        (Config, {"Healthcheck": {"Interval": "1s"}}, "string", "HealthConfig.Interval", "int64"),
        (HostConfig, {"Memory": "1g"}, "string", "HostConfig.Memory", "int64"),
        (HostConfig, {"Memory": True}, "bool", "HostConfig.Memory", "int64"),
        (
            HostConfig,
            {"Memory": 9223372036854775808},
            "number 9223372036854775808",
            "HostConfig.Memory",
            "int64",
        ),
        (HostConfig, {"BlkioWeight": 70000}, "number 70000", "HostConfig.BlkioWeight", "uint16"),
        (HostConfig, {"IOMaximumIOps": -1}, "number -1", "HostConfig.IOMaximumIOps", "uint64"),
        (HostConfig, {"Privileged": 1}, "number", "HostConfig.Privileged", "bool"),
        (
            HostConfig,
            {"RestartPolicy": "always"},
            "string",
            "HostConfig.RestartPolicy",
            "container.RestartPolicy",
        ),
        (
            HostConfig,
            {"RestartPolicy": ["always"]},
            "array",
            "HostConfig.RestartPolicy",
            "container.RestartPolicy",
        ),
        (
            HostConfig,
            {"RestartPolicy": {"MaximumRetryCount": "3"}},
            "string",
            "RestartPolicy.MaximumRetryCount",
            "int",
        ),
        (
            HostConfig,
            {"PortBindings": {"80/tcp": {"HostPort": "1"}}},
            "object",
            "HostConfig.PortBindings",
            "[]nat.PortBinding",
        ),
        (
            HostConfig,
            {"PortBindings": {"80/tcp": [{"HostPort": 8080}]}},
            "number",
            "PortBinding.HostPort",
            "string",
        ),
        (HostConfig, {"CapAdd": {"a": 1}}, "object", "HostConfig.CapAdd", "[]string"),
        (HostConfig, {"Mounts": [{"Type": 5}]}, "number", "Mount.Type", "string"),
        (HostConfig, {"Mounts": [{"VolumeOptions": []}]}, "array", "Mount.VolumeOptions", "object"),
        (HostConfig, {"Ulimits": [None]}, "null", "HostConfig.Ulimits", "units.Ulimit"),
        (HostConfig, {"ConsoleSize": "80x24"}, "string", "HostConfig.ConsoleSize", "[2]uint"),
        (
            HostConfig,
            {"LogConfig": {"Config": {"max-size": 10}}},
            "number",
            "LogConfig.Config",
            "string",
        ),
        (
            NetworkingConfig,
            {"EndpointsConfig": []},
            "array",
            "NetworkingConfig.EndpointsConfig",
            "map[string]*network.EndpointSettings",
        ),
        (
            NetworkingConfig,
            {"EndpointsConfig": {"n": {"Aliases": "a"}}},
            "string",
            "EndpointSettings.Aliases",
            "[]string",
        ),
        (
            NetworkingConfig,
            {"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": 1}}}},
            "number",
            "EndpointIPAMConfig.IPv4Address",
            "string",
        ),
    ],
)
def test_wrong_json_types_are_refused_naming_the_field(
    cls: type[DockerStruct], doc: dict[str, Any], value: str, field: str, go_type: str
) -> None:
    with pytest.raises(InvalidParameter) as err:
        cls.from_docker(doc)
    assert err.value.http_status == 400
    assert err.value.message == (
        f"json: cannot unmarshal {value} into Go struct field {field} of type {go_type}"
    )


@pytest.mark.parametrize("cls", [Config, HostConfig, NetworkingConfig])
def test_a_non_object_document_is_refused(cls: type[DockerStruct]) -> None:
    with pytest.raises(InvalidParameter) as err:
        cls.from_docker([])  # type: ignore[arg-type]
    assert err.value.message == f"json: cannot unmarshal array into Go value of type {cls.GO_TYPE}"
