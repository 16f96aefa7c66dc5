"""--init in the OCI spec: moby's WithInit (docker-init as PID 1, bound read-only)."""

from __future__ import annotations

from typing import Any

import pytest

from berth.domain.config import Config, HostConfig
from berth.domain.errors import InvalidParameter
from berth.domain.spec import HostFacts, ResolvedUser, build_spec

TINI = "/usr/bin/tini-static"


def spec(init: bool | None, init_binary: str = TINI, **config: Any) -> dict[str, Any]:
    return build_spec(
        container_id="c" * 64,
        config=Config(**{"cmd": ("sh", "-c", "sleep 1"), **config}),
        host_config=HostConfig(init=init, readonly_rootfs=True),
        rootfs="/rootfs",
        hostname="h",
        user=ResolvedUser(uid=0, gid=0, additional_gids=()),
        facts=HostFacts(init_binary=init_binary),
    )


def test_init_runs_docker_init_in_front_of_entrypoint_and_cmd() -> None:
    s = spec(True, entrypoint=("/entry",))
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "/entry", "sh", "-c", "sleep 1"]
    (bound,) = [m for m in s["mounts"] if m["destination"] == "/sbin/docker-init"]
    assert bound == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": TINI,
        "options": ["bind", "ro"],
    }


@pytest.mark.parametrize("init", [None, False])
def test_without_init_the_command_is_pid_1(init: bool | None) -> None:
    s = spec(init)
    assert s["process"]["args"] == ["sh", "-c", "sleep 1"]
    assert all(m["destination"] != "/sbin/docker-init" for m in s["mounts"])


def test_init_without_an_init_on_the_host_cannot_start() -> None:
    with pytest.raises(InvalidParameter, match="failed to find docker-init"):
        spec(True, init_binary="")
