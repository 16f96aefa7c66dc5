"""docker-py's swarm and plugin calls against berthd, which runs no swarm (ADR/0046):
answered as dockerd 20.10 answers them before `docker swarm init`. docker-py's own
TestNetworks (tests/integration/api_network_test.py) tears every test down with
`leave_swarm(force=True)`, which counts dockerd's 503 as left."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import pytest
from docker.errors import APIError, NotFound

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)


def test_leave_swarm_of_a_node_in_no_swarm(docker_api: docker.APIClient) -> None:
    assert docker_api.leave_swarm(force=True) is True
    with pytest.raises(APIError) as refused:
        docker_api.leave_swarm()
    assert refused.value.status_code == 503
    assert refused.value.explanation == "This node is not part of a swarm"


@pytest.mark.parametrize(
    "call",
    [
        lambda api: api.inspect_swarm(),
        lambda api: api.get_unlock_key(),
        lambda api: api.nodes(),
        lambda api: api.services(),
        lambda api: api.tasks(),
        lambda api: api.secrets(),
        lambda api: api.configs(),
    ],
    ids=["swarm", "unlockkey", "nodes", "services", "tasks", "secrets", "configs"],
)  # fmt: skip
def test_what_a_manager_keeps_is_unavailable(
    docker_api: docker.APIClient, call: Callable[[docker.APIClient], Any]
) -> None:
    with pytest.raises(APIError) as refused:
        call(docker_api)
    assert refused.value.status_code == 503
    assert refused.value.explanation == NOT_A_MANAGER


def test_swarm_init_and_join_are_refused_naming_swarm_mode(docker_api: docker.APIClient) -> None:
    for call in (
        lambda: docker_api.init_swarm("127.0.0.1", listen_addr="127.0.0.1:2377"),
        lambda: docker_api.join_swarm(["127.0.0.1:2377"], "SWMTKN-1-x"),
    ):
        with pytest.raises(APIError) as refused:
            call()
        assert refused.value.status_code == 400
        assert "swarm mode" in str(refused.value.explanation)
    assert docker_api.info()["Swarm"]["LocalNodeState"] == "inactive"


def test_no_plugin_is_installed(docker_api: docker.APIClient) -> None:
    assert docker_api.plugins() == []
    with pytest.raises(NotFound) as missing:
        docker_api.inspect_plugin("vieux/sshfs")
    assert missing.value.explanation == 'plugin "vieux/sshfs" not found'
    with pytest.raises(APIError) as refused:
        docker_api.pull_plugin("vieux/sshfs", [])
    assert refused.value.status_code == 400
