"""docker-py's own lifecycle tests (KillTest and test_create_with_restart_policy in
tests/integration/api_container_test.py), ported against berthd with busybox, and the
answers dockerd gives right after a kill or an exit its restart policy restarts."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import docker
import pytest

TEST_IMG = "busybox"


def _started(docker_api: docker.APIClient, command: list[str], **options: object) -> str:
    container_id: str = docker_api.create_container(TEST_IMG, command, **options)["Id"]
    docker_api.start(container_id)
    return container_id


def _assert_killed(state: dict[str, object]) -> None:
    assert state["ExitCode"] == 137
    assert state["Running"] is False, state
    assert state["Status"] == "exited"


@pytest.mark.parametrize(
    "kill",
    [
        lambda docker_api, cid: docker_api.kill(cid),  # test_kill
        lambda docker_api, cid: docker_api.kill({"Id": cid}),  # test_kill_with_dict_instead_of_id
    ],
    ids=["default", "dict"],
)
def test_kill_then_inspect_at_once(
    docker_api: docker.APIClient, kill: Callable[[docker.APIClient, str], None]
) -> None:
    container_id = _started(docker_api, ["sleep", "9999"])
    kill(docker_api, container_id)
    _assert_killed(docker_api.inspect_container(container_id)["State"])


@pytest.mark.parametrize("sig", [signal.SIGKILL, "SIGKILL", 9], ids=["enum", "name", "integer"])
def test_kill_with_signal(docker_api: docker.APIClient, sig: object) -> None:
    container_id = _started(docker_api, ["sleep", "60"])
    docker_api.kill(container_id, signal=sig)
    assert docker_api.wait(container_id)["StatusCode"] == 137
    _assert_killed(docker_api.inspect_container(container_id)["State"])


def test_remove_right_after_kill(docker_api: docker.APIClient) -> None:
    container_id = _started(docker_api, ["sleep", "9999"])
    docker_api.kill(container_id)
    docker_api.remove_container(container_id)
    assert docker_api.containers(all=True, filters={"id": container_id}) == []


def test_create_with_restart_policy(docker_api: docker.APIClient) -> None:
    container_id = _started(
        docker_api,
        ["sleep", "2"],
        host_config=docker_api.create_host_config(
            restart_policy={"Name": "always", "MaximumRetryCount": 0}, network_mode="none"
        ),
    )
    docker_api.wait(container_id)
    with pytest.raises(docker.errors.APIError) as exc:
        docker_api.remove_container(container_id)
    assert "stop the container before" in exc.value.explanation.lower()
    docker_api.remove_container(container_id, force=True)


def test_an_exit_the_policy_restarts_is_restarting_until_started(
    docker_api: docker.APIClient,
) -> None:
    """`exit 3` at once, 100 ms of back-off, again: the wait answers at an exit, which the
    log records with its RestartScheduled, so the container is restarting or running."""
    container_id = _started(
        docker_api,
        ["sh", "-c", "exit 3"],
        host_config=docker_api.create_host_config(restart_policy={"Name": "always"}),
    )
    assert docker_api.wait(container_id)["StatusCode"] == 3
    with pytest.raises(docker.errors.APIError) as exc:
        docker_api.remove_container(container_id)
    assert exc.value.status_code == 409
    message = exc.value.explanation
    assert message.startswith(
        (
            f"You cannot remove a restarting container {container_id}.",
            f"You cannot remove a running container {container_id}.",
        )
    ), message


def test_restart_is_an_event_after_the_start_it_made(docker_api: docker.APIClient) -> None:
    container_id = _started(docker_api, ["sleep", "60"])
    since = int(time.time()) - 1
    docker_api.restart(container_id, timeout=0)
    events = docker_api.events(
        since=since, until=int(time.time()) + 1, decode=True, filters={"container": container_id}
    )
    actions = [event["Action"] for event in events]
    assert actions[-2:] == ["start", "restart"], actions
    assert "die" in actions


def test_kill_of_a_paused_container_answers_with_its_exit(docker_api: docker.APIClient) -> None:
    container_id = _started(docker_api, ["sleep", "9999"])
    docker_api.pause(container_id)
    docker_api.kill(container_id)
    _assert_killed(docker_api.inspect_container(container_id)["State"])


def test_prune_containers(docker_api: docker.APIClient) -> None:
    """docker-py's PruneTest.test_prune_containers: SpaceReclaimed counts what the pruned
    containers wrote (dockerd's SizeRw), and a running one stays."""
    done = docker_api.create_container(TEST_IMG, ["sh", "-c", "echo hello > /data.txt"])["Id"]
    busy = _started(docker_api, ["sleep", "9999"])
    docker_api.start(done)
    assert docker_api.wait(done)["StatusCode"] == 0
    result = docker_api.prune_containers()
    assert result["ContainersDeleted"] == [done]
    assert result["SpaceReclaimed"] >= len("hello\n")
    assert [c["Id"] for c in docker_api.containers(all=True)] == [busy]


def test_create_with_runtime(docker_api: docker.APIClient) -> None:
    """docker-py's ContainerCPUTest.test_create_with_runtime: `runtime=` is sent beside Image,
    not in HostConfig, and each runtime the daemon lists, default or not, is the one kept."""
    info = docker_api.info()
    assert info["DefaultRuntime"] in info["Runtimes"]
    for name in sorted(info["Runtimes"], key=lambda n: n == info["DefaultRuntime"]):
        container_id = docker_api.create_container(TEST_IMG, ["echo", "test"], runtime=name)["Id"]
        assert docker_api.inspect_container(container_id)["HostConfig"]["Runtime"] == name
    bogus = docker_api.create_container(TEST_IMG, ["true"], runtime="")["Id"]
    default = docker_api.inspect_container(bogus)["HostConfig"]["Runtime"]
    assert default == info["DefaultRuntime"]
