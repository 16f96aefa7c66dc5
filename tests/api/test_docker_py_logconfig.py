"""docker-py's own log-config tests (tests/integration/api_container_test.py, docker-py
7.x: test_valid_log_driver_and_log_opt, test_invalid_log_driver_raises_exception,
test_valid_no_log_driver_specified, test_valid_no_config_specified), ported to berthd."""

from __future__ import annotations

import docker
import pytest

TEST_IMG = "busybox"


@pytest.fixture
def client(docker_api: docker.APIClient) -> docker.APIClient:
    """docker-py's name for the low-level client (conftest's `docker_api`)."""
    return docker_api


def created_and_started(client: docker.APIClient, log_config: docker.types.LogConfig) -> object:
    container = client.create_container(
        TEST_IMG, ["true"], host_config=client.create_host_config(log_config=log_config)
    )
    client.start(container)
    return client.inspect_container(container)["HostConfig"]["LogConfig"]


def test_valid_log_driver_and_log_opt(client: docker.APIClient) -> None:
    log_config = docker.types.LogConfig(type="json-file", config={"max-file": "100"})
    shown = created_and_started(client, log_config)
    assert shown == {"Type": log_config.type, "Config": log_config.config}


def test_invalid_log_driver_raises_exception(client: docker.APIClient) -> None:
    log_config = docker.types.LogConfig(type="asdf", config={})
    expected_msgs = [
        "logger: no log driver named 'asdf' is registered",
        'error looking up logging plugin asdf: plugin "asdf" not found',
    ]
    with pytest.raises(docker.errors.APIError) as excinfo:
        created_and_started(client, log_config)
    assert excinfo.value.explanation in expected_msgs
    assert client.containers(all=True) == []


def test_valid_no_log_driver_specified(client: docker.APIClient) -> None:
    log_config = docker.types.LogConfig(type="", config={"max-file": "100"})
    shown = created_and_started(client, log_config)
    assert shown == {"Type": "json-file", "Config": log_config.config}


def test_valid_no_config_specified(client: docker.APIClient) -> None:
    log_config = docker.types.LogConfig(type="json-file", config=None)
    shown = created_and_started(client, log_config)
    assert shown == {"Type": "json-file", "Config": {}}
