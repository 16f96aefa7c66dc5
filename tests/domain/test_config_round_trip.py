"""Config value objects: the documents the docker CLI and dockerd exchange decode and
re-encode to the same JSON, with Go's conventions for strslices and nulls."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

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


def test_endpoint_settings_keep_the_network_by_name() -> None:
    networking = NetworkingConfig.from_docker(RUN_NETWORKING)
    assert networking.endpoints_config == {"default": EndpointSettings()}


def test_keys_match_in_any_case_as_gos_decoder_matches_them() -> None:
    """docker-py sends "CPURealtimeRuntime"; dockerd (Go's encoding/json) takes it for
    CpuRealtimeRuntime. Of two keys for one field the last wins, as in Go."""
    host = HostConfig.from_docker({"CPURealtimeRuntime": 40000, "cpurealtimeperiod": 150000})
    assert (host.cpu_realtime_runtime, host.cpu_realtime_period) == (40000, 150000)
    assert Config.from_docker({"Cmd": ["b"], "cmd": ["a"]}).cmd == ("a",)
    assert Config.from_docker({"cmd": ["a"], "Cmd": ["b"]}).cmd == ("b",)
    assert Config.from_docker({"NoSuchKey": 1, "image": "busybox"}).image == "busybox"


def _structs(base: type) -> list[type]:
    return [c for sub in base.__subclasses__() for c in (sub, *_structs(sub))]


def test_no_struct_has_two_keys_that_differ_in_case_only() -> None:
    """Else a case-insensitive match could not tell them apart (Go's could not either)."""
    structs = [c for c in _structs(DockerStruct) if dataclasses.is_dataclass(c)]
    assert len(structs) >= 10
    for struct in structs:
        keys = [f.metadata["docker"] for f in dataclasses.fields(struct)]
        assert len({k.lower() for k in keys}) == len(keys), struct
