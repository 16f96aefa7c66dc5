"""The table of settings_support: every field of a create request has an entry, and a
value berth does not carry out is refused by verify_settings, naming the field."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import (
    Config,
    EndpointIPAMConfig,
    EndpointSettings,
    HealthConfig,
    HostConfig,
    NetworkingConfig,
)
from berth.domain.config_json import DockerStruct
from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.settings import verify_settings
from berth.domain.settings_support import SETTINGS, Setting, Support

CONFIG = Config(image="busybox", cmd=("true",))
TOP = (Config, HostConfig, NetworkingConfig)
CHECKED_OWNERS = {"Config", "HostConfig", "EndpointSettings"}


def _structs_in(hint: Any) -> Iterator[type]:
    if isinstance(hint, type) and issubclass(hint, DockerStruct):
        yield hint
    for arg in typing.get_args(hint):
        yield from _structs_in(arg)


def reachable_structs() -> list[type]:
    """Config, HostConfig, NetworkingConfig and every struct their fields hold."""
    found: list[type] = []
    todo = list(TOP)
    while todo:
        struct = todo.pop()
        if struct in found:
            continue
        found.append(struct)
        for hint in typing.get_type_hints(struct).values():
            todo.extend(_structs_in(hint))
    return found


def test_every_field_of_every_struct_of_a_create_request_has_one_entry() -> None:
    structs = reachable_structs()
    assert len(structs) > len(TOP)  # nested structs were found (RestartPolicy, Mount, ...)
    entries = [(s.owner, s.attr) for s in SETTINGS]
    assert len(entries) == len(set(entries)), "a field with two entries"
    for struct in structs:
        fields = {f.name for f in dataclasses.fields(struct)}
        listed = {attr for owner, attr in entries if owner is struct}
        assert fields - listed == set(), f"{struct.__name__}: fields without an entry"
        assert listed - fields == set(), f"{struct.__name__}: entries of no field"
    assert {owner for owner, _ in entries} <= set(structs)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"{s.owner.__name__}.{s.field}")
def test_each_entry_is_consistent(setting: Setting) -> None:
    """Only refusing kinds have a refusal, and only where the check can read the value;
    an applied or ignored field says where or why."""
    refusing = setting.support in (Support.REFUSED, Support.PARTIAL)
    assert (setting.refuses is not None) == refusing
    if refusing:
        assert setting.owner.__name__ in CHECKED_OWNERS
        assert setting.flag
    if setting.support in (Support.APPLIED, Support.IGNORED, Support.PART_OF):
        assert setting.note


def refused_message(
    config: Config = CONFIG, host: HostConfig | None = None, net: dict[str, Any] | None = None
) -> str:
    networking = NetworkingConfig.from_docker(net or {})
    with pytest.raises(InvalidParameter) as refused:
        verify_settings(config, host or HostConfig(), networking=networking)
    assert refused.value.http_status == 400
    return refused.value.message


@given(
    tty=st.booleans(),
    open_stdin=st.booleans(),
    stdin_once=st.booleans(),
    attach_stdin=st.booleans(),
    console=st.tuples(st.integers(0, 500), st.integers(0, 500)),
)
def test_terminals_and_stdin_are_accepted(
    tty: bool, open_stdin: bool, stdin_once: bool, attach_stdin: bool, console: tuple[int, int]
) -> None:
    """`-i`, `-t`, `-a stdin` and the terminal's size are carried out (the monitor's stdio)."""
    config = replace(
        CONFIG, tty=tty, open_stdin=open_stdin, stdin_once=stdin_once, attach_stdin=attach_stdin
    )
    assert verify_settings(config, HostConfig(console_size=console)) == []


@given(stdout=st.booleans(), stderr=st.booleans())
def test_attaching_stdout_and_stderr_is_accepted(stdout: bool, stderr: bool) -> None:
    """Plain `docker run` attaches both outputs, `run -d` neither: both keep working."""
    config = replace(CONFIG, attach_stdout=stdout, attach_stderr=stderr)
    assert verify_settings(config, HostConfig()) == []


# A value berth does not carry out, for each field the table refuses (as JSON), so that
# any one of them alone in a request is refused naming that field.
_names = st.text("abcdefghij", min_size=1, max_size=8)
_paths = _names.map(lambda n: f"/dev/{n}")
_throttles = st.lists(st.fixed_dictionaries({"Path": _paths, "Rate": st.integers(1, 2**40)}),
                      min_size=1, max_size=2)  # fmt: skip
REFUSED_VALUES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("Config", "Healthcheck"): st.fixed_dictionaries(
        {"StartInterval": st.integers(10**6, 10**12)},
        optional={"Test": st.sampled_from([["CMD", "true"], ["CMD-SHELL", "true"]])},
    ),
    ("Config", "NetworkDisabled"): st.just(True),
    ("HostConfig", "IpcMode"): st.just("none") | _names.map(lambda n: f"container:{n}"),
    ("HostConfig", "Cgroup"): _names.map(lambda n: f"container:{n}"),
    ("HostConfig", "SecurityOpt"): st.lists(
        st.sampled_from(
            [
                "apparmor=docker-default",
                "label=type:svirt_apache_t",
                "label:level:s0:c100,c200",
                "writable-cgroups=true",
            ]
        ),
        min_size=1,
        max_size=2,
    ),
    ("HostConfig", "StorageOpt"): st.dictionaries(_names, _names, min_size=1, max_size=2),
    ("HostConfig", "UsernsMode"): st.sampled_from(["private", "auto", "ns:/proc/1/ns/user"]),
    ("HostConfig", "BlkioWeightDevice"): st.lists(
        st.fixed_dictionaries({"Path": _paths, "Weight": st.integers(10, 1000)}), min_size=1
    ),
    ("HostConfig", "BlkioDeviceReadBps"): _throttles,
    ("HostConfig", "BlkioDeviceWriteBps"): _throttles,
    ("HostConfig", "BlkioDeviceReadIOps"): _throttles,
    ("HostConfig", "BlkioDeviceWriteIOps"): _throttles,
    ("HostConfig", "DeviceRequests"): st.just([{"Driver": "nvidia", "Count": -1}]),
    ("HostConfig", "KernelMemory"): st.integers(6 * 2**20, 2**40) | st.integers(-(2**40), -1),
    ("HostConfig", "KernelMemoryTCP"): st.integers(1, 2**40),
    ("EndpointSettings", "GwPriority"): st.integers(1, 100) | st.integers(-100, -1),
}
REFUSING = [s for s in SETTINGS if s.refuses is not None]


def test_every_refusing_entry_has_values_to_refuse() -> None:
    assert {(s.owner.__name__, s.field) for s in REFUSING} == set(REFUSED_VALUES)


def request_with(setting: Setting, value: Any) -> tuple[Config, HostConfig, dict[str, Any]]:
    if setting.owner is Config:
        return Config.from_docker({**CONFIG.to_docker(), setting.field: value}), HostConfig(), {}
    if setting.owner is HostConfig:
        return CONFIG, HostConfig.from_docker({setting.field: value}), {}
    return CONFIG, HostConfig(), {"EndpointsConfig": {"bridge": {setting.field: value}}}


@given(data=st.data())
def test_any_one_refused_value_is_refused_naming_its_field(data: st.DataObject) -> None:
    setting = data.draw(st.sampled_from(REFUSING))
    value = data.draw(REFUSED_VALUES[(setting.owner.__name__, setting.field)])
    config, host, net = request_with(setting, value)
    message = refused_message(config, host, net)
    assert message.startswith(f"{setting.field} ({setting.flag}) is not supported by berth yet")


def json_zero(codec: Any) -> Any:
    """The JSON a client sends for "not set" in a field of this Go type."""
    go = codec.go_type
    if go == "string":
        return ""
    if go == "bool":
        return False
    if go.startswith(("int", "uint")):
        return 0
    if go.startswith("[2]"):
        return [0, 0]
    if go.startswith("[]") or go.endswith("StrSlice"):
        return []
    if go.startswith("*") or go == "object":
        return None
    return {}  # maps, sets and structs


def zero_bodies(struct: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Each field of `struct` left out, null, or its zero value ([], {}, "", 0, false)."""
    choices = {
        f.metadata["docker"]: st.sampled_from([None, json_zero(f.metadata["codec"])])
        for f in dataclasses.fields(struct)
    }
    return st.fixed_dictionaries({}, optional=choices)


@given(
    config=zero_bodies(Config),
    host=zero_bodies(HostConfig),
    endpoint=st.none() | zero_bodies(EndpointSettings),
    ipam=st.none() | zero_bodies(EndpointIPAMConfig),
    network=st.sampled_from(["bridge", "default", ""]),
)
def test_a_request_of_zero_values_is_accepted(
    config: dict[str, Any],
    host: dict[str, Any],
    endpoint: dict[str, Any] | None,
    ipam: dict[str, Any] | None,
    network: str,
) -> None:
    """What clients send for the settings they leave alone is never refused."""
    user = Config.from_docker({**config, "Image": "busybox", "Cmd": ["true"]})
    if endpoint is not None and ipam is not None:
        endpoint = {**endpoint, "IPAMConfig": ipam}
    networking = NetworkingConfig.from_docker(
        {"EndpointsConfig": None if endpoint is None else {network or "bridge": endpoint}}
    )
    verify_settings(user, HostConfig.from_docker(host), networking=networking)


# The defaults of `docker run busybox true` (docker CLI 20.10-27) and of docker-compose 1.29.
CLIENT_DEFAULTS = {
    "Links": [], "VolumesFrom": [], "Devices": [], "DeviceCgroupRules": None,
    "LogConfig": {"Type": "", "Config": {}}, "NetworkMode": "default", "ConsoleSize": [0, 0],
    "SecurityOpt": None, "Init": None, "Runtime": "", "IpcMode": "", "PidMode": "",
    "KernelMemory": 0, "BlkioWeightDevice": [], "StorageOpt": None, "UsernsMode": "",
    "Cgroup": "", "VolumeDriver": "", "Isolation": "", "DeviceRequests": None,
}  # fmt: skip


@pytest.mark.parametrize(
    "endpoints",
    [
        {"default": {}},
        {"bridge": {}},
        {"bridge": {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": ""}},
        {"bridge": {"IPAMConfig": {}, "Aliases": [], "DriverOpts": {}}},
    ],
)
def test_real_clients_default_requests_are_accepted(endpoints: dict[str, Any]) -> None:
    host = HostConfig.from_docker(CLIENT_DEFAULTS)
    networking = NetworkingConfig.from_docker({"EndpointsConfig": endpoints})
    assert verify_settings(CONFIG, host, networking=networking) == []


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (HostConfig(ipc_mode="container:db"), "IpcMode (--ipc) is not supported by berth yet"),
        (HostConfig(ipc_mode="none"), "IpcMode (--ipc) is not supported by berth yet: none"),
        (HostConfig(security_opt=("apparmor=docker-default",)), "SecurityOpt (--security-opt)"),
        (HostConfig(security_opt=("label=user:USER",)), "not supported by berth yet: label="),
        (HostConfig(security_opt=("seccomp={not json",)), "Decoding seccomp profile failed"),
        # dockerd's own refusals keep dockerd's words.
        (HostConfig(security_opt=("apparmor",)), 'invalid --security-opt 1: "apparmor"'),
        (HostConfig(security_opt=("foo=bar",)), 'invalid --security-opt 2: "foo=bar"'),
        (HostConfig(security_opt=("no-new-privileges=maybe",)), "invalid --security-opt 2"),
        (HostConfig(ipc_mode="container:"), "invalid IPC mode: container:"),
        (HostConfig(kernel_memory=1024), "Minimum kernel memory limit allowed is 6MB"),
        (
            HostConfig(network_mode="host", links=("db:db",)),
            "conflicting options: host type networking can't be used with links",
        ),
    ],
)
def test_partly_applied_settings_are_refused_for_what_berth_does_not_do(
    host: HostConfig, message: str
) -> None:
    assert message in refused_message(host=host)


@pytest.mark.parametrize(
    "host",
    [
        HostConfig(pid_mode="host", ipc_mode="shareable", userns_mode="host", runtime="runc"),
        HostConfig(ipc_mode="private", volume_driver="local", init=False),
        HostConfig(security_opt=("apparmor=unconfined", "label=disable", "seccomp=unconfined")),
        HostConfig(security_opt=("no-new-privileges:false", "disable", "seccomp=builtin")),
        HostConfig(security_opt=("writable-cgroups=false",)),
    ],
)
def test_what_berth_does_anyway_is_accepted(host: HostConfig) -> None:
    assert verify_settings(CONFIG, host) == []


def test_an_endpoint_on_a_network_that_does_not_exist_is_not_found() -> None:
    """Only the built-in networks exist; as dockerd, an unknown one is refused at create
    (rather than stored and, here, never connected)."""
    networking = NetworkingConfig.from_docker({"EndpointsConfig": {"backend": {}}})
    with pytest.raises(NotFound, match="network backend not found"):
        verify_settings(CONFIG, HostConfig(), networking=networking)
    joined = NetworkingConfig.from_docker({"EndpointsConfig": {"container:db": {}}})
    assert verify_settings(CONFIG, HostConfig(network_mode="container:db"), networking=joined) == []


def test_a_probe_is_accepted_and_a_start_interval_refused() -> None:
    none = HealthConfig(test=("NONE",))
    assert verify_settings(replace(CONFIG, healthcheck=none), HostConfig()) == []
    probe = replace(CONFIG, healthcheck=HealthConfig(test=("CMD", "true")))
    assert verify_settings(probe, HostConfig()) == []
    early = replace(CONFIG, healthcheck=HealthConfig(test=("CMD", "true"), start_interval=10**9))
    assert refused_message(early) == (
        "Healthcheck (--health-cmd) is not supported by berth yet: StartInterval"
    )
