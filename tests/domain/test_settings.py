"""Create's pure steps: merging with the image config, adapting the host config.

verify_settings has its own file, test_settings_verify.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import (
    Config,
    HealthConfig,
    HostConfig,
    LogConfig,
    RestartPolicy,
)
from berth.domain.errors import InvalidParameter
from berth.domain.settings import adapt_settings, merge_config, verify_settings

MIB = 1024 * 1024
CONFIG = Config(image="busybox", cmd=("true",))
IMAGE = Config(
    user="daemon",
    exposed_ports=("80/tcp",),
    env=("PATH=/usr/bin", "LANG=C"),
    cmd=("sh",),
    entrypoint=("/entry",),
    healthcheck=HealthConfig(test=("CMD", "true"), interval=5, timeout=6, retries=2),
    volumes=("/data",),
    working_dir="/srv",
    labels={"from": "image", "shared": "image"},
    stop_signal="SIGQUIT",
    hostname="imagehost",
    on_build=("RUN true",),
    shell=("/bin/bash", "-c"),
)


# ---------------------------------------------------------------------------- merge


@pytest.mark.parametrize(
    ("user", "image", "expected"),
    [
        pytest.param(Config(cmd=("x",)), IMAGE, {"user": "daemon"}, id="user-from-image"),
        pytest.param(Config(cmd=("x",), user="root"), IMAGE, {"user": "root"}, id="user-kept"),
        pytest.param(
            Config(cmd=("x",)), IMAGE, {"exposed_ports": ("80/tcp",)}, id="ports-from-image"
        ),
        pytest.param(
            Config(cmd=("x",), exposed_ports=("53/udp",)),
            IMAGE,
            {"exposed_ports": ("53/udp", "80/tcp")},
            id="ports-union",
        ),
        pytest.param(
            Config(cmd=("x",)), IMAGE, {"env": ("PATH=/usr/bin", "LANG=C")}, id="env-from-image"
        ),
        pytest.param(
            Config(cmd=("x",), env=("LANG=fr", "A=1", "FLAG")),
            IMAGE,
            {"env": ("LANG=fr", "A=1", "FLAG", "PATH=/usr/bin")},
            id="env-by-key-user-first",
        ),
        pytest.param(
            Config(cmd=("x",), env=("PATH",)),
            IMAGE,
            {"env": ("PATH", "LANG=C")},
            id="env-name-without-value-overrides",
        ),
        pytest.param(
            Config(cmd=("x",), labels={"shared": "user", "mine": "1"}),
            IMAGE,
            {"labels": {"shared": "user", "mine": "1", "from": "image"}},
            id="labels-union-user-wins",
        ),
        pytest.param(Config(cmd=("x",)), Config(), {"labels": {}}, id="labels-never-null"),
        pytest.param(
            Config(),
            IMAGE,
            {"cmd": ("sh",), "entrypoint": ("/entry",)},
            id="cmd-and-entrypoint-from-image",
        ),
        pytest.param(
            Config(cmd=("ls",)),
            IMAGE,
            {"cmd": ("ls",), "entrypoint": ("/entry",)},
            id="user-cmd-keeps-image-entrypoint",
        ),
        pytest.param(
            Config(entrypoint=("/bin/app",)),
            IMAGE,
            {"cmd": None, "entrypoint": ("/bin/app",)},
            id="user-entrypoint-drops-image-cmd",
        ),
        pytest.param(
            Config(entrypoint=("/bin/app",), cmd=("-v",)),
            IMAGE,
            {"cmd": ("-v",), "entrypoint": ("/bin/app",)},
            id="user-both-kept",
        ),
        pytest.param(
            Config(entrypoint=()),
            IMAGE,
            {"cmd": ("sh",), "entrypoint": ()},
            id="empty-entrypoint-list-is-not-unset",
        ),
        pytest.param(
            Config(entrypoint=("",), cmd=("ls",)),
            IMAGE,
            {"cmd": ("ls",), "entrypoint": None},
            id="entrypoint-empty-string-resets",
        ),
        # moby's merge: the image's check, or the user's with the image's fields it left zero.
        pytest.param(
            Config(cmd=("x",)), IMAGE, {"healthcheck": IMAGE.healthcheck}, id="healthcheck-image"
        ),
        pytest.param(
            Config(cmd=("x",), healthcheck=HealthConfig(timeout=9)),
            IMAGE,
            {"healthcheck": HealthConfig(("CMD", "true"), interval=5, timeout=9, retries=2)},
            id="healthcheck-the-users-over-the-images",
        ),
        pytest.param(
            Config(cmd=("x",), healthcheck=HealthConfig(test=("NONE",))),
            Config(),
            {"healthcheck": HealthConfig(test=("NONE",))},
            id="healthcheck-user-only",
        ),
        pytest.param(Config(cmd=("x",)), IMAGE, {"working_dir": "/srv"}, id="workdir-from-image"),
        pytest.param(
            Config(cmd=("x",), working_dir="/w"), IMAGE, {"working_dir": "/w"}, id="workdir-kept"
        ),
        pytest.param(
            Config(cmd=("x",), volumes=("/cache",)),
            IMAGE,
            {"volumes": ("/cache", "/data")},
            id="volumes-union",
        ),
        pytest.param(
            Config(cmd=("x",)), IMAGE, {"stop_signal": "SIGQUIT"}, id="stop-signal-from-image"
        ),
        pytest.param(
            Config(cmd=("x",), stop_signal="9"), IMAGE, {"stop_signal": "9"}, id="stop-signal-kept"
        ),
        pytest.param(
            Config(cmd=("x",)),
            IMAGE,
            {"hostname": "", "on_build": None, "shell": (), "image": ""},
            id="not-merged-fields-stay-the-users",
        ),
    ],
)
def test_merge_config(user: Config, image: Config, expected: dict[str, Any]) -> None:
    merged = merge_config(user, image)
    assert {name: getattr(merged, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("user", "image"),
    [
        (Config(), Config()),
        (Config(cmd=()), Config(cmd=())),
        (Config(entrypoint=("",)), Config(entrypoint=("/entry",))),
    ],
)
def test_merge_without_a_command_is_refused(user: Config, image: Config) -> None:
    with pytest.raises(InvalidParameter) as err:
        merge_config(user, image)
    assert err.value.http_status == 400
    assert err.value.message == "No command specified"


# ---------------------------------------------------------------------------- adapt


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ({"cpu_shares": 1}, {"cpu_shares": 2}),
        ({"cpu_shares": 300000}, {"cpu_shares": 262144}),
        ({"cpu_shares": 1024}, {"cpu_shares": 1024}),
        ({"cpu_shares": 0}, {"cpu_shares": 0}),
        ({"shm_size": 0}, {"shm_size": 64 * MIB}),
        ({"shm_size": MIB}, {"shm_size": MIB}),
        ({"restart_policy": RestartPolicy("")}, {"restart_policy": RestartPolicy("no")}),
        ({"restart_policy": RestartPolicy("always")}, {"restart_policy": RestartPolicy("always")}),
        ({"network_mode": ""}, {"network_mode": "bridge"}),
        ({"network_mode": "default"}, {"network_mode": "default"}),
        ({"network_mode": "host"}, {"network_mode": "host"}),
        ({"memory": 10 * MIB}, {"memory_swap": 20 * MIB}),
        ({"memory": 10 * MIB, "memory_swap": -1}, {"memory_swap": -1}),
        ({"memory": 10 * MIB, "memory_swap": 15 * MIB}, {"memory_swap": 15 * MIB}),
        ({}, {"memory_swap": 0}),
        ({}, {"ipc_mode": "private", "oom_kill_disable": False, "runtime": "runc"}),
        (
            {"ipc_mode": "host", "oom_kill_disable": True},
            {"ipc_mode": "host", "oom_kill_disable": True},
        ),
        ({"memory_swappiness": -1}, {"memory_swappiness": None}),
        ({"memory_swappiness": 0}, {"memory_swappiness": 0}),
        ({"pids_limit": 0}, {"pids_limit": None}),
        ({"pids_limit": -1}, {"pids_limit": None}),
        ({"pids_limit": 100}, {"pids_limit": 100}),
        ({"log_config": LogConfig()}, {"log_config": LogConfig(type="json-file")}),
        ({"log_config": LogConfig("none", {})}, {"log_config": LogConfig("none", {})}),
        # Windows only: dockerd warns (verify_settings) and discards it.
        ({"cpu_percent": 50}, {"cpu_percent": 0}),
    ],
)
def test_adapt_settings(given_: dict[str, Any], expected: dict[str, Any]) -> None:
    adapted = adapt_settings(HostConfig(**given_))
    assert {name: getattr(adapted, name) for name in expected} == expected


def test_the_cgroup_namespace_is_the_hosts_unless_cgroups_are_unified() -> None:
    """dockerd's adaptContainerSettings: "private" on cgroup v2 alone, "host" on v1 and
    the hybrid layout; a mode asked for stays."""
    assert adapt_settings(HostConfig(), cgroup_v2=False).cgroupns_mode == "host"
    assert adapt_settings(HostConfig(), cgroup_v2=True).cgroupns_mode == "private"
    asked = HostConfig(cgroupns_mode="private")
    assert adapt_settings(asked, cgroup_v2=False).cgroupns_mode == "private"


def test_adapt_can_leave_cpu_shares_alone_like_modern_dockerd() -> None:
    assert adapt_settings(HostConfig(cpu_shares=1), adjust_cpu_shares=False).cpu_shares == 1


def test_adapted_cli_defaults_match_what_dockerd_20_10_stored() -> None:
    # `docker run -d busybox sleep 30` (04-run-d.txt) and dockerd's inspect of it (06-inspect.txt).
    body = json.loads(
        '{"Binds":null,"LogConfig":{"Type":"","Config":{}},"NetworkMode":"default",'
        '"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"IpcMode":"","ShmSize":0,'
        '"CpuShares":0,"Memory":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,'
        '"PidsLimit":0}'
    )
    stored = json.loads(
        '{"Binds":null,"LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"default",'
        '"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"IpcMode":"private",'
        '"ShmSize":67108864,"Runtime":"runc","CpuShares":0,"Memory":0,"MemorySwap":0,'
        '"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null}'
    )
    host = HostConfig.from_docker(body)
    assert verify_settings(CONFIG, host) == []
    out = adapt_settings(host).to_docker()
    assert {key: out[key] for key in stored} == stored


_host_configs = st.builds(
    HostConfig,
    cpu_shares=st.integers(min_value=0, max_value=10**6),
    memory=st.integers(min_value=0, max_value=2**40),
    memory_swap=st.integers(min_value=-1, max_value=2**41),
    shm_size=st.integers(min_value=0, max_value=2**30),
    memory_swappiness=st.none() | st.integers(min_value=-1, max_value=100),
    pids_limit=st.none() | st.integers(min_value=-5, max_value=10**6),
    network_mode=st.sampled_from(["", "default", "bridge", "host", "none"]),
    restart_policy=st.builds(RestartPolicy, name=st.sampled_from(["", "no", "always"])),
)


@given(_host_configs)
def test_adapt_is_idempotent_and_leaves_no_unset_defaults(host: HostConfig) -> None:
    adapted = adapt_settings(host)
    assert adapt_settings(adapted) == adapted
    assert adapted.shm_size > 0 and adapted.network_mode and adapted.restart_policy.name
    assert adapted.cpu_shares == 0 or 2 <= adapted.cpu_shares <= 262144
    assert adapted.memory == 0 or adapted.memory_swap != 0
