"""verify_settings: every create request dockerd answers with 400, and what it accepts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from berth.domain.config import BindOptions, Config, HealthConfig, HostConfig, Mount, PortBinding
from berth.domain.config import RestartPolicy as Restart
from berth.domain.errors import InvalidParameter
from berth.domain.settings import (
    WARN_CPU_PERCENT,
    WARN_OOM_KILL_WITHOUT_LIMIT,
    WARN_PUBLISH_ON_HOST_NETWORK,
    verify_settings,
)
from berth.domain.settings_rules import BindSpec, normalize_capabilities, parse_bind
from berth.domain.signals import parse_signal

MIB = 1024 * 1024
CONFIG = Config(image="busybox", cmd=("true",))
NAME_RULE = "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
ROOT = "invalid specification: destination can't be '/'"
RESTART = "invalid restart policy: "
LINKS = "can't be used with links. This would result in undefined behavior"
NEEDS_ABSOLUTE = "the working directory '{}' is invalid, it needs to be an absolute path"


def mount_err(kind: str, reason: str) -> str:
    return f'invalid mount config for type "{kind}": {reason}'


def relative(path: str) -> str:
    return f"invalid mount path: '{path}' mount path must be absolute"


def spec_err(raw: str, reason: str = "") -> str:
    return f"invalid volume specification: '{raw}'" + (f": {reason}" if reason else "")


def mounts(**kwargs: Any) -> HostConfig:
    return HostConfig(mounts=(Mount(**kwargs),))


def ports(key: str, host_port: str | None = None) -> HostConfig:
    return HostConfig(
        port_bindings={key: None if host_port is None else (PortBinding("", host_port),)}
    )


def health(**kwargs: Any) -> Config:
    """dockerd's checks of a Healthcheck's durations, which it makes even for
    `--no-healthcheck` (a probe, issue 14, is refused before them: settings_support)."""
    return replace(CONFIG, healthcheck=HealthConfig(test=("NONE",), **kwargs))


def in_container_net(**kwargs: Any) -> HostConfig:
    return HostConfig(network_mode="container:web", **kwargs)


# Requests whose Config alone is at fault, with dockerd's message.
CONFIG_400: list[tuple[Config | None, str]] = [
    (Config(), "config cannot be empty in order to create a container"),
    (None, "config cannot be empty in order to create a container"),
    (replace(CONFIG, env=("=foo",)), "invalid environment variable: =foo"),
    (replace(CONFIG, env=("=",)), "invalid environment variable: ="),
    (replace(CONFIG, env=("A=1", "")), "invalid environment variable: "),
    (replace(CONFIG, working_dir="x"), NEEDS_ABSOLUTE.format("x")),
    (replace(CONFIG, working_dir="./srv"), NEEDS_ABSOLUTE.format("./srv")),
    (replace(CONFIG, stop_signal="FOO"), "Invalid signal: FOO"),
    (replace(CONFIG, stop_signal="0"), "Invalid signal: 0"),
    (replace(CONFIG, exposed_ports=("x/tcp",)), 'invalid port specification: "x"'),
    (health(interval=500_000), "Interval in Healthcheck cannot be less than 1ms"),
    (health(interval=-10_000_000), "Interval in Healthcheck cannot be less than 1ms"),
    (health(timeout=-100_000_000), "Timeout in Healthcheck cannot be less than 1ms"),
    (health(retries=-10), "Retries in Healthcheck cannot be negative"),
    (health(start_period=100_000), "StartPeriod in Healthcheck cannot be less than 1ms"),
    (health(start_interval=100_000), "StartInterval in Healthcheck cannot be less than 1ms"),
]

# Requests whose HostConfig is at fault (with CONFIG), with dockerd's message.
HOST_400: list[tuple[HostConfig, str]] = [
    (ports("19039;1230"), 'invalid port specification: "19039;1230"'),
    (ports("0/tcp"), 'invalid port specification: "0"'),
    (ports("65536/tcp"), 'invalid port specification: "65536"'),
    (ports("80/icmp"), 'invalid port specification: "80"'),
    (ports("80/tcp", "http"), 'invalid port specification: "http"'),
    (ports("80/tcp", "9000-8000"), 'invalid port specification: "9000-8000"'),
    (HostConfig(memory=1), "Minimum memory limit allowed is 6MB"),
    (HostConfig(memory=-1), "Minimum memory limit allowed is 6MB"),
    (
        HostConfig(memory=10 * MIB, memory_swap=8 * MIB),
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    ),
    (
        HostConfig(memory_swap=8 * MIB),
        "You should always set the Memory limit when using Memoryswap limit, see usage",
    ),
    (
        HostConfig(memory_swappiness=101),
        "Invalid value: 101, valid memory swappiness range is 0-100",
    ),
    (HostConfig(memory_swappiness=-2), "Invalid value: -2, valid memory swappiness range is 0-100"),
    (HostConfig(memory_reservation=MIB), "Minimum memory reservation allowed is 6MB"),
    (
        HostConfig(memory=10 * MIB, memory_reservation=20 * MIB),
        "Minimum memory limit can not be less than memory reservation limit, see usage",
    ),
    (HostConfig(kernel_memory=MIB), "Minimum kernel memory limit allowed is 6MB"),
    (
        HostConfig(nano_cpus=10**9, cpu_period=100000),
        "Conflicting options: Nano CPUs and CPU Period cannot both be set",
    ),
    (
        HostConfig(nano_cpus=10**9, cpu_quota=50000),
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
    ),
    (
        HostConfig(cpu_period=500),
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
    ),
    (
        HostConfig(cpu_period=1_000_001),
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
    ),
    (HostConfig(cpu_quota=500), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    (HostConfig(blkio_weight=5), "Range of blkio weight is from 10 to 1000"),
    (HostConfig(cpu_shares=-1), "invalid CPU shares (-1): value must be a positive integer"),
    (
        HostConfig(cpu_realtime_period=1000, cpu_realtime_runtime=2000),
        "cpu real-time runtime cannot be higher than cpu real-time period",
    ),
    (
        HostConfig(io_maximum_bandwidth=1),
        "invalid option: QoS maximum bandwidth configuration is not supported on linux",
    ),
    (
        HostConfig(io_maximum_iops=1),
        "invalid option: QoS maximum IOPs configuration is not supported on linux",
    ),
    (HostConfig(isolation="hyperv"), "invalid isolation (hyperv): linux only supports 'default'"),
    (HostConfig(cpuset_cpus="0-x"), "Invalid value 0-x for cpuset cpus: invalid format: 0-x"),
    (HostConfig(cpuset_mems="3-1"), "Invalid value 3-1 for cpuset mems: invalid format: 3-1"),
    (
        HostConfig(restart_policy=Restart("something")),
        RESTART + "unknown policy 'something'; "
        "use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    ),
    (
        HostConfig(restart_policy=Restart("always", 2)),
        RESTART + "maximum retry count can only be used with 'on-failure'",
    ),
    (
        HostConfig(restart_policy=Restart("unless-stopped", -1)),
        RESTART + "maximum retry count can only be used with 'on-failure' and cannot be negative",
    ),
    (
        HostConfig(restart_policy=Restart("on-failure", -2)),
        RESTART + "maximum retry count cannot be negative",
    ),
    (
        HostConfig(auto_remove=True, restart_policy=Restart("always")),
        "can't create 'AutoRemove' container with restart policy",
    ),
    (mounts(type="bind", source="/src"), mount_err("bind", "field Target must not be empty")),
    (mounts(type="bind", source="/src", target="/"), mount_err("bind", ROOT)),
    (mounts(type="volume", target="//"), mount_err("volume", ROOT)),
    (mounts(type="bind", source="/src", target="dst"), mount_err("bind", relative("dst"))),
    (mounts(type="bind", source="src", target="/dst"), mount_err("bind", relative("src"))),
    (mounts(type="bind", target="/dst"), mount_err("bind", "field Source must not be empty")),
    (
        mounts(type="bind", source="/s", target="/d", bind_options=BindOptions("sideways")),
        mount_err("bind", "invalid propagation mode: sideways"),
    ),
    (
        mounts(type="bind", source="/s", target="/d", volume_options={}),
        mount_err("bind", "field VolumeOptions must not be specified"),
    ),
    (
        mounts(type="volume", target="/d", bind_options=BindOptions()),
        mount_err("volume", "field BindOptions must not be specified"),
    ),
    (
        mounts(type="volume", target="/d", volume_options={"Subpath": "x"}),
        mount_err("volume", "must not set Subpath when using anonymous volumes"),
    ),
    (
        mounts(type="volume", source="v", target="/d", volume_options={"Subpath": "../x"}),
        mount_err("volume", "subpath must be a relative path within the volume"),
    ),
    (
        mounts(type="tmpfs", source="/s", target="/d"),
        mount_err("tmpfs", "field Source must not be specified"),
    ),
    (
        mounts(type="tmpfs", target="/d", tmpfs_options={"Options": [["suid"]]}),
        mount_err("tmpfs", "invalid option: suid"),
    ),
    (mounts(type="image", target="/d"), mount_err("image", "field Source must not be empty")),
    (mounts(type="invalid", target="/data/x"), mount_err("invalid", "mount type unknown")),
    (HostConfig(binds=("/src:/",)), spec_err("/src:/", mount_err("bind", ROOT))),
    (HostConfig(binds=("/tmp:tmp",)), spec_err("/tmp:tmp", mount_err("bind", relative("tmp")))),
    (HostConfig(binds=("./",)), spec_err("./", mount_err("volume", relative("./")))),
    (HostConfig(binds=("/path:rw",)), spec_err("/path:rw")),
    (HostConfig(binds=("/tmp:",)), spec_err("/tmp:")),
    (HostConfig(binds=(":/test",)), spec_err(":/test")),
    (HostConfig(binds=("/tmp:::",)), spec_err("/tmp:::")),
    (HostConfig(binds=("/a:/b:foo",)), "invalid mode: foo"),
    (HostConfig(binds=("/a:/b:ro,rw",)), "invalid mode: ro,rw"),
    (HostConfig(binds=("/a:/b:ro,rshared,rslave",)), "invalid mode: ro,rshared,rslave"),
    (
        HostConfig(binds=("name:/abs:shared",)),
        spec_err(
            "name:/abs:shared", mount_err("volume", "field BindOptions must not be specified")
        ),
    ),
    (
        HostConfig(binds=("/host:/c:nocopy",)),
        spec_err("/host:/c:nocopy", mount_err("bind", "field VolumeOptions must not be specified")),
    ),
    (HostConfig(tmpfs={"/": ""}), ROOT),
    (HostConfig(tmpfs={"//": ""}), ROOT),
    (HostConfig(tmpfs={".": ""}), relative(".")),
    (HostConfig(tmpfs={"foo": ""}), relative("foo")),
    (HostConfig(ipc_mode="invalid"), "invalid IPC mode: invalid"),
    (HostConfig(ipc_mode="container:"), "invalid IPC mode: container:"),
    (HostConfig(pid_mode="invalid"), "invalid PID mode: invalid"),
    (HostConfig(pid_mode="container"), "invalid PID mode: container"),
    (HostConfig(pid_mode="private"), "invalid PID mode: private"),
    (HostConfig(uts_mode="invalid"), "invalid UTS mode: invalid"),
    (HostConfig(cgroupns_mode="shared"), "invalid cgroup namespace mode: shared"),
    (HostConfig(shm_size=-1), "SHM size can not be less than 0"),
    (
        HostConfig(oom_score_adj=1001),
        "Invalid value 1001, range for oom score adj is [-1000, 1000]",
    ),
    (HostConfig(cap_add=("CAP_FOO",)), 'invalid CapAdd: unknown capability: "CAP_FOO"'),
    (HostConfig(cap_add=("net_admin", "foo")), 'invalid CapAdd: unknown capability: "CAP_FOO"'),
    (HostConfig(cap_drop=("all-of-it",)), 'invalid CapDrop: unknown capability: "CAP_ALL-OF-IT"'),
    (
        HostConfig(annotations={"": "a"}),
        "invalid Annotations: the empty string is not permitted as an annotation key",
    ),
    (HostConfig(extra_hosts=("nohost",)), 'bad format for add-host: "nohost"'),
    (HostConfig(extra_hosts=(":1.2.3.4",)), 'bad format for add-host: ":1.2.3.4"'),
    (HostConfig(extra_hosts=("db:not-an-ip",)), 'invalid IP address in add-host: "not-an-ip"'),
    (
        HostConfig(extra_hosts=("db:fe80::1%eth0",)),
        'invalid IP address in add-host: "fe80::1%eth0"',
    ),
    (
        HostConfig(network_mode="container:"),
        "invalid network mode: invalid container format container:<name|id>",
    ),
    (
        HostConfig(network_mode="container"),
        "invalid network mode: invalid container format container:<name|id>",
    ),
    (in_container_net(links=("db:db",)), f"conflicting options: container type network {LINKS}"),
    (in_container_net(dns=("1.1.1.1",)), "conflicting options: dns and the network mode"),
    (
        in_container_net(extra_hosts=("a:1.2.3.4",)),
        "conflicting options: custom host-to-IP mapping and the network mode",
    ),
    (
        in_container_net(publish_all_ports=True),
        "conflicting options: port publishing and the container type network mode",
    ),
    (
        HostConfig(network_mode="host", links=("db:db",)),
        f"conflicting options: host type networking {LINKS}",
    ),
]

# Requests where the two configs conflict with each other.
BOTH_400: list[tuple[Config, HostConfig, str]] = [
    (
        replace(CONFIG, hostname="h"),
        in_container_net(),
        "conflicting options: hostname and the network mode",
    ),
    (
        replace(CONFIG, exposed_ports=("80/tcp",)),
        in_container_net(),
        "conflicting options: port exposing and the container type network mode",
    ),
    (
        replace(CONFIG, hostname="h"),
        HostConfig(uts_mode="host"),
        "conflicting options: hostname and the UTS mode",
    ),
]


def _refused(config: Config | None, host_config: HostConfig, name: str | None = None) -> str:
    with pytest.raises(InvalidParameter) as err:
        verify_settings(config, host_config, name)
    assert err.value.http_status == 400
    return err.value.message


@pytest.mark.parametrize(("config", "message"), CONFIG_400)
def test_config_refused(config: Config | None, message: str) -> None:
    assert _refused(config, HostConfig()) == message


@pytest.mark.parametrize(("host_config", "message"), HOST_400)
def test_host_config_refused(host_config: HostConfig, message: str) -> None:
    assert _refused(CONFIG, host_config) == message


@pytest.mark.parametrize(("config", "host_config", "message"), BOTH_400)
def test_conflicting_configs_refused(config: Config, host_config: HostConfig, message: str) -> None:
    assert _refused(config, host_config) == message


@pytest.mark.parametrize("name", ["x", "a b", "-lead", "ok\n", "//two", "名前"])
def test_container_name_refused(name: str) -> None:
    assert _refused(CONFIG, HostConfig(), name) == f"Invalid container name ({name}), {NAME_RULE}"


def test_cpu_range_is_checked_only_when_the_cpu_count_is_known() -> None:
    host = HostConfig(nano_cpus=3 * 10**9)
    assert verify_settings(CONFIG, host) == []
    with pytest.raises(InvalidParameter) as err:
        verify_settings(CONFIG, host, ncpu=2)
    expected = "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
    assert err.value.message == expected
    with pytest.raises(InvalidParameter):
        verify_settings(CONFIG, HostConfig(nano_cpus=-1), ncpu=2)
    assert verify_settings(CONFIG, HostConfig(nano_cpus=2 * 10**9), ncpu=2) == []


ACCEPTED: list[tuple[Config, HostConfig, str | None]] = [
    (CONFIG, HostConfig(), None),
    (Config(image="busybox"), HostConfig(), "/anchor-cs"),
    (CONFIG, HostConfig(memory_swappiness=-1, memory=6 * MIB, memory_swap=-1), "web.1_a-b"),
    (CONFIG, HostConfig(memory=8 * MIB, memory_swap=8 * MIB, memory_reservation=6 * MIB), None),
    (CONFIG, HostConfig(nano_cpus=1, cpu_shares=1, cpu_quota=-1), None),
    (CONFIG, HostConfig(cpu_period=1000, cpu_quota=1000, blkio_weight=10), None),
    (CONFIG, HostConfig(cap_add=("ALL", "net_admin", "CAP_SYS_ADMIN", "Chown")), None),
    (CONFIG, HostConfig(cap_drop=("all",)), None),
    (CONFIG, HostConfig(restart_policy=Restart("on-failure", 5)), None),
    (CONFIG, HostConfig(restart_policy=Restart("", 123)), None),
    (CONFIG, HostConfig(auto_remove=True, restart_policy=Restart("no")), None),
    (CONFIG, HostConfig(binds=("/srv:/srv:ro,Z,rslave", "cache:/cache", "/anon")), None),
    (CONFIG, HostConfig(binds=("/:/host:ro", "relative:/absolute-path", "v:/b:nocopy")), None),
    (
        CONFIG,
        HostConfig(
            mounts=(
                Mount(type="bind", source="/", target="/host", bind_options=BindOptions("rshared")),
                Mount(type="volume", target="/anon"),
                Mount(type="tmpfs", target="/run", tmpfs_options={"Options": [["exec"]]}),
            )
        ),
        None,
    ),
    (CONFIG, HostConfig(tmpfs={"/run": "size=1m"}, ipc_mode="shareable"), None),
    (CONFIG, HostConfig(pid_mode="host", uts_mode="host", cgroupns_mode="private"), None),
    (CONFIG, HostConfig(isolation="Default", ipc_mode="host"), None),
    (CONFIG, ports("80/tcp", "8000-8010"), None),
    (CONFIG, HostConfig(port_bindings={"53/UDP": None, "9/sctp": (PortBinding("::1", ""),)}), None),
    (CONFIG, HostConfig(extra_hosts=("a:1.2.3.4", "b=::1", "c:[::1]", "gw:host-gateway")), None),
    (
        replace(CONFIG, env=("A", "B=", "C=d=e"), working_dir="/", stop_signal="sigrtmin+3"),
        HostConfig(),
        None,
    ),
    (health(interval=1_000_000, retries=0), HostConfig(), None),
    (replace(CONFIG, stop_signal="15"), in_container_net(), None),
    (CONFIG, HostConfig(cpuset_cpus="0-2,4", cpuset_mems="0"), None),
]


@pytest.mark.parametrize(("config", "host_config", "name"), ACCEPTED)
def test_accepted(config: Config, host_config: HostConfig, name: str | None) -> None:
    assert verify_settings(config, host_config, name) == []


@pytest.mark.parametrize(
    ("host_config", "warnings"),
    [
        (
            HostConfig(network_mode="host", port_bindings={"80/tcp": None}),
            [WARN_PUBLISH_ON_HOST_NETWORK],
        ),
        (HostConfig(network_mode="host", port_bindings={}), []),
        (HostConfig(oom_kill_disable=True), [WARN_OOM_KILL_WITHOUT_LIMIT]),
        (HostConfig(oom_kill_disable=True, memory=64 * MIB), []),
        (HostConfig(cpu_percent=50), [WARN_CPU_PERCENT]),
    ],
)
def test_warnings(host_config: HostConfig, warnings: list[str]) -> None:
    assert verify_settings(CONFIG, host_config) == warnings


def test_bind_sources_are_not_checked_for_existence() -> None:
    missing = "/definitely/not/a/path/on/this/host"
    host = HostConfig(binds=(f"{missing}:/d",), mounts=(Mount("bind", missing, "/m"),))
    assert verify_settings(CONFIG, host) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/srv:/srv:ro,Z,rslave", BindSpec("/srv", "/srv", "ro,Z,rslave", "bind", True, "rslave")),
        ("cache:/cache", BindSpec("cache", "/cache", "", "volume", False, "")),
        ("/anon", BindSpec("", "/anon", "", "volume", False, "")),
        ("/a:/b:rw", BindSpec("/a", "/b", "rw", "bind", False, "")),
    ],
)
def test_parse_bind(raw: str, expected: BindSpec) -> None:
    assert parse_bind(raw) == expected


@pytest.mark.parametrize(
    ("raw", "number"), [("SIGTERM", 15), ("kill", 9), ("9", 9), ("RTMIN+3", 37), ("SIGRTMAX", 64)]
)
def test_parse_signal(raw: str, number: int) -> None:
    assert parse_signal(raw) == number


def test_normalize_capabilities() -> None:
    caps = normalize_capabilities(["net_admin", "CAP_CHOWN", "all"], "CapAdd")
    assert caps == ["CAP_NET_ADMIN", "CAP_CHOWN", "ALL"]


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"PathOnHost": "dev/null"}, "bad format for path: dev/null"),
        ({"PathOnHost": "/dev/null", "PathInContainer": "x"}, "bad format for path: x"),
        ({"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}, "bad mode specified: rwx"),
        ({"PathOnHost": "/dev/null", "CgroupPermissions": "rr"}, "bad mode specified: rr"),
    ],
)
def test_a_device_mapping_the_runtime_could_not_carry_out_is_refused(
    device: dict[str, str], message: str
) -> None:
    assert _refused(CONFIG, HostConfig.from_docker({"Devices": [device]})) == message
    verify_settings(
        CONFIG,
        HostConfig.from_docker(
            {
                "Devices": [
                    {
                        "PathOnHost": "/dev/null",
                        "PathInContainer": "/dev/n",
                        "CgroupPermissions": "rw",
                    }
                ]
            }
        ),
    )
