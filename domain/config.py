"""The three configs of a create request, as Docker Engine API value objects.

`Config` holds what is independent of the host (command, environment, user, ...),
`HostConfig` what binds the container to this host (mounts, ports, resources, ...) and
`NetworkingConfig` the per-network endpoint settings. Attribute names are snake_case; the
JSON keys, their types and their null/empty conventions are Docker's, through
`from_docker` and `to_docker`, so the API layer translates nothing and
`X.from_docker(x.to_docker()) == x` holds.

Sequences are tuples and maps are dicts typed as read-only `Mapping`s: the objects are
frozen and compare by value, but a value holding a map is not hashable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .config_host import (
    BindOptions,
    DeviceMapping,
    DeviceRequest,
    HostConfig,
    LogConfig,
    Mount,
    PortBinding,
    RestartPolicy,
    ThrottleDevice,
    Ulimit,
    WeightDevice,
)
from .config_json import (
    BOOL,
    INT,
    INT64,
    STR,
    STRLIST,
    STRMAP,
    STRSLICE,
    STRSLICE_OMITEMPTY,
    DockerStruct,
    KeySet,
    ListOf,
    Opt,
    Struct,
    jf,
)
from .config_network import EndpointIPAMConfig, EndpointSettings, NetworkingConfig

__all__ = [
    "BindOptions",
    "Config",
    "DeviceMapping",
    "DeviceRequest",
    "EndpointIPAMConfig",
    "EndpointSettings",
    "HealthConfig",
    "HostConfig",
    "LogConfig",
    "Mount",
    "NetworkingConfig",
    "PortBinding",
    "RestartPolicy",
    "ThrottleDevice",
    "Ulimit",
    "WeightDevice",
]


@dataclass(frozen=True)
class HealthConfig(DockerStruct):
    """How to probe the container's health; durations are nanoseconds, as on the wire."""

    GO_STRUCT = "HealthConfig"
    GO_TYPE = "container.HealthConfig"

    test: tuple[str, ...] = field(
        default=(), metadata=jf("Test", ListOf(STR, nil_is_empty=True), omitempty=True)
    )
    interval: int = field(default=0, metadata=jf("Interval", INT64, omitempty=True))
    timeout: int = field(default=0, metadata=jf("Timeout", INT64, omitempty=True))
    start_period: int = field(default=0, metadata=jf("StartPeriod", INT64, omitempty=True))
    start_interval: int = field(default=0, metadata=jf("StartInterval", INT64, omitempty=True))
    retries: int = field(default=0, metadata=jf("Retries", INT, omitempty=True))


@dataclass(frozen=True)
class Config(DockerStruct):
    """Docker's `container.Config`: what the container runs, independent of the host."""

    GO_STRUCT = "Config"
    GO_TYPE = "container.Config"

    hostname: str = field(default="", metadata=jf("Hostname", STR))
    domainname: str = field(default="", metadata=jf("Domainname", STR))
    user: str = field(default="", metadata=jf("User", STR))
    attach_stdin: bool = field(default=False, metadata=jf("AttachStdin", BOOL))
    attach_stdout: bool = field(default=False, metadata=jf("AttachStdout", BOOL))
    attach_stderr: bool = field(default=False, metadata=jf("AttachStderr", BOOL))
    exposed_ports: tuple[str, ...] = field(
        default=(),
        metadata=jf("ExposedPorts", KeySet("nat.PortSet", nil_is_empty=True), omitempty=True),
    )
    tty: bool = field(default=False, metadata=jf("Tty", BOOL))
    open_stdin: bool = field(default=False, metadata=jf("OpenStdin", BOOL))
    stdin_once: bool = field(default=False, metadata=jf("StdinOnce", BOOL))
    env: tuple[str, ...] | None = field(default=None, metadata=jf("Env", STRLIST))
    cmd: tuple[str, ...] | None = field(default=None, metadata=jf("Cmd", STRSLICE))
    healthcheck: HealthConfig | None = field(
        default=None, metadata=jf("Healthcheck", Opt(Struct(HealthConfig)), omitempty=True)
    )
    args_escaped: bool = field(default=False, metadata=jf("ArgsEscaped", BOOL, omitempty=True))
    image: str = field(default="", metadata=jf("Image", STR))
    volumes: tuple[str, ...] | None = field(
        default=None, metadata=jf("Volumes", KeySet("map[string]struct {}"))
    )
    working_dir: str = field(default="", metadata=jf("WorkingDir", STR))
    entrypoint: tuple[str, ...] | None = field(default=None, metadata=jf("Entrypoint", STRSLICE))
    network_disabled: bool = field(
        default=False, metadata=jf("NetworkDisabled", BOOL, omitempty=True)
    )
    mac_address: str = field(default="", metadata=jf("MacAddress", STR, omitempty=True))
    on_build: tuple[str, ...] | None = field(default=None, metadata=jf("OnBuild", STRLIST))
    labels: Mapping[str, str] | None = field(default=None, metadata=jf("Labels", STRMAP))
    stop_signal: str = field(default="", metadata=jf("StopSignal", STR, omitempty=True))
    stop_timeout: int | None = field(
        default=None, metadata=jf("StopTimeout", Opt(INT), omitempty=True)
    )
    shell: tuple[str, ...] = field(
        default=(), metadata=jf("Shell", STRSLICE_OMITEMPTY, omitempty=True)
    )
