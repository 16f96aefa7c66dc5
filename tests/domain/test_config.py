"""Config value objects: Docker's JSON in, the same JSON out, wrong types refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import (
    Config,
    EndpointSettings,
    HealthConfig,
    HostConfig,
    Mount,
    NetworkingConfig,
    PortBinding,
    RestartPolicy,
)
from berth.domain.config_json import DockerStruct
from berth.domain.errors import InvalidParameter

# `docker create --name anchor-cs --network none busybox /bin/busybox true`, the body the
# docker CLI 28.2.2 sent to dockerd 20.10 (docker-api-capture/12-create.txt).
CREATE_BODY = json.loads(
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,'
    '"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,'
    '"Cmd":["/bin/busybox","true"],"Image":"busybox","Volumes":{},"WorkingDir":"",'
    '"Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,'
    '"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"none",'
    '"PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},'
    '"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],'
    '"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],'
    '"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,'
    '"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,'
    '"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,'
    '"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,'
    '"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],'
    '"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,'
    '"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",'
    '"Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,'
    '"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],'
    '"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,'
    '"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{}}}'
)

# `docker run --rm busybox echo hi` (03-run-rm-fg.txt): its NetworkingConfig names the
# `default` network with every EndpointSettings field.
RUN_NETWORKING = json.loads(
    '{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,'
    '"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"",'
    '"Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",'
    '"GlobalIPv6PrefixLen":0,"DNSNames":null}}}'
)

# What dockerd 20.10 answered to `docker inspect` (06-inspect.txt): the daemon's own shape.
INSPECT_CONFIG = json.loads(
    '{"Hostname":"eda51ec3d22d","Domainname":"","User":"","AttachStdin":false,'
    '"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,'
    '"StdinOnce":false,"Env":null,"Cmd":["sleep","30"],"Image":"busybox","Volumes":null,'
    '"WorkingDir":"","Entrypoint":null,"NetworkDisabled":true,"OnBuild":null,"Labels":{}}'
)
INSPECT_HOST_CONFIG = json.loads(
    '{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},'
    '"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no",'
    '"MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,'
    '"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],'
    '"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"",'
    '"Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,'
    '"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"",'
    '"ShmSize":67108864,"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","CpuShares":0,'
    '"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],'
    '"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],'
    '"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,'
    '"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],'
    '"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,'
    '"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,'
    '"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,'
    '"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore",'
    '"/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats",'
    '"/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus",'
    '"/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}'
)

# A richer HostConfig than the CLI's defaults, exercising the nested and optional shapes.
RICH_HOST_CONFIG: dict[str, Any] = {
    **INSPECT_HOST_CONFIG,
    "Binds": ["/srv/data:/data:ro,Z", "cache:/cache"],
    "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": None},
    "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
    "CapAdd": ["NET_ADMIN"],
    "Tmpfs": {"/run": "size=64m"},
    "Sysctls": {"net.ipv4.ip_forward": "1"},
    "StorageOpt": {"size": "10G"},
    "Memory": 67108864,
    "MemorySwap": -1,
    "MemorySwappiness": 60,
    "PidsLimit": 100,
    "OomKillDisable": True,
    "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 500}],
    "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}],
    "Devices": [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}
    ],
    "DeviceRequests": [
        {
            "Driver": "nvidia",
            "Count": -1,
            "DeviceIDs": None,
            "Capabilities": [["gpu"]],
            "Options": {},
        }
    ],
    "Ulimits": [{"Name": "nofile", "Hard": 2048, "Soft": 1024}],
    "Mounts": [
        {
            "Type": "bind",
            "Source": "/srv",
            "Target": "/srv",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rslave"},
        },
        {
            "Type": "volume",
            "Source": "v",
            "Target": "/v",
            "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}},
        },
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 448}},
    ],
    "Init": True,
    "Annotations": {"org.example/key": "value"},
}

RICH_CONFIG: dict[str, Any] = {
    **INSPECT_CONFIG,
    "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
    "Env": ["PATH=/usr/bin", "EMPTY="],
    "Cmd": ["sh", "-c", "echo hi"],
    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000, "Retries": 3},
    "Volumes": {"/data": {}},
    "Entrypoint": ["/entry"],
    "MacAddress": "02:42:ac:11:00:02",
    "OnBuild": ["RUN true"],
    "Labels": {"a": "1", "b": ""},
    "StopSignal": "SIGINT",
    "StopTimeout": 5,
    "Shell": ["/bin/sh", "-c"],
}


def _body_config(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}


@pytest.mark.parametrize(
    ("cls", "doc"),
    [
        (Config, _body_config(CREATE_BODY)),
        (HostConfig, CREATE_BODY["HostConfig"]),
        (NetworkingConfig, CREATE_BODY["NetworkingConfig"]),
        (NetworkingConfig, RUN_NETWORKING),
    ],
    ids=["create-Config", "create-HostConfig", "create-NetworkingConfig", "run-Networking"],
)
def test_cli_create_body_round_trips_every_key(
    cls: type[DockerStruct], doc: dict[str, Any]
) -> None:
    out = cls.from_docker(doc).to_docker()
    assert set(doc) <= set(out), f"keys berth dropped: {set(doc) - set(out)}"
    assert {k: out[k] for k in doc} == doc
    # Keys the CLI no longer sends but dockerd 20.10 still writes come out at their zero value.
    assert {k: v for k, v in out.items() if k not in doc} in (
        {},
        {"KernelMemory": 0, "KernelMemoryTCP": 0},
    )


@pytest.mark.parametrize(
    ("cls", "doc"),
    [
        (Config, INSPECT_CONFIG),
        (HostConfig, INSPECT_HOST_CONFIG),
        (Config, RICH_CONFIG),
        (HostConfig, RICH_HOST_CONFIG),
    ],
    ids=["inspect-Config", "inspect-HostConfig", "rich-Config", "rich-HostConfig"],
)
def test_daemon_documents_round_trip_exactly(cls: type[DockerStruct], doc: dict[str, Any]) -> None:
    value = cls.from_docker(doc)
    out = value.to_docker()
    assert out == doc
    assert list(out) == [k for k in out if k in doc]  # nothing invented
    assert cls.from_docker(json.loads(json.dumps(out))) == value


def test_create_body_decodes_to_the_expected_values() -> None:
    config = Config.from_docker(CREATE_BODY)
    host = HostConfig.from_docker(CREATE_BODY["HostConfig"])
    assert config.cmd == ("/bin/busybox", "true")
    assert config.env is None
    assert config.volumes == ()
    assert config.labels == {}
    assert config.attach_stdout and not config.tty
    assert host.network_mode == "none"
    assert host.restart_policy == RestartPolicy(name="no")
    assert host.memory_swappiness == -1
    assert host.pids_limit == 0
    assert host.dns == () and host.binds is None
    assert host.port_bindings == {}


def test_rich_host_config_decodes_nested_structs() -> None:
    host = HostConfig.from_docker(RICH_HOST_CONFIG)
    assert host.port_bindings == {
        "80/tcp": (PortBinding(host_ip="127.0.0.1", host_port="8080"),),
        "53/udp": None,
    }
    assert host.mounts[0] == Mount.from_docker(RICH_HOST_CONFIG["Mounts"][0])
    assert host.mounts[0].bind_options is not None
    assert host.mounts[0].bind_options.propagation == "rslave"
    assert host.ulimits is not None and host.ulimits[0].soft == 1024
    assert host.init is True
    assert HealthConfig.from_docker(RICH_CONFIG["Healthcheck"]).retries == 3


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("Cmd", "echo hi", ("echo hi",)),
        ("Cmd", [], ()),
        ("Cmd", None, None),
        ("Entrypoint", "/bin/sh", ("/bin/sh",)),
        ("Entrypoint", [""], ("",)),
        ("Shell", "/bin/bash", ("/bin/bash",)),
        ("Env", [], ()),
        ("Env", ["A", None], ("A", "")),
        ("Hostname", None, ""),
        ("Labels", {"a": None}, {"a": ""}),
        ("ExposedPorts", {"80/tcp": None}, ("80/tcp",)),
        ("ExposedPorts", None, ()),
    ],
)
def test_go_json_conventions_for_strslice_and_null(key: str, value: Any, expected: Any) -> None:
    config = Config.from_docker({key: value})
    attr = {
        "Cmd": "cmd",
        "Entrypoint": "entrypoint",
        "Shell": "shell",
        "Env": "env",
        "Hostname": "hostname",
        "Labels": "labels",
        "ExposedPorts": "exposed_ports",
    }[key]
    assert getattr(config, attr) == expected
    assert Config.from_docker(config.to_docker()) == config


def test_unset_config_writes_docker_nulls_and_omits_omitempty_fields() -> None:
    out = Config(image="busybox").to_docker()
    assert out["Cmd"] is None and out["Env"] is None and out["Entrypoint"] is None
    assert out["Labels"] is None and out["Volumes"] is None and out["OnBuild"] is None
    for omitted in (
        "ExposedPorts",
        "Healthcheck",
        "StopSignal",
        "StopTimeout",
        "Shell",
        "MacAddress",
        "NetworkDisabled",
        "ArgsEscaped",
    ):
        assert omitted not in out
    assert Config(cmd=("a", "b")).to_docker()["Cmd"] == ["a", "b"]


def test_unknown_keys_are_ignored() -> None:
    assert Config.from_docker({"Image": "x", "NoSuchKey": [1, {"a": 2}]}) == Config(image="x")
    assert HostConfig.from_docker({"Frobnicate": True}) == HostConfig()


def test_decoded_maps_are_copies_of_the_input() -> None:
    doc = {"Labels": {"a": "1"}}
    config = Config.from_docker(doc)
    doc["Labels"]["a"] = "2"
    assert config.labels == {"a": "1"}


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


def test_endpoint_settings_keep_the_network_by_name() -> None:
    networking = NetworkingConfig.from_docker(RUN_NETWORKING)
    assert networking.endpoints_config == {"default": EndpointSettings()}


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
