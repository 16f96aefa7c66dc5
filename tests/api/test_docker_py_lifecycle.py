"""docker-py's own lifecycle tests (KillTest and test_create_with_restart_policy in
tests/integration/api_container_test.py), ported against berthd with busybox, and the
answers dockerd gives right after a kill or an exit its restart policy restarts."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import docker
import pytest

from .conftest import Berthd

TEST_IMG = "busybox"


@pytest.fixture
def api(berthd: Berthd) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41", timeout=60)
    try:
        yield client
    finally:
        for container in client.containers(all=True):
            client.remove_container(container["Id"], force=True)
        client.close()


def _started(api: docker.APIClient, command: list[str], **options: object) -> str:
    container_id: str = api.create_container(TEST_IMG, command, **options)["Id"]
    api.start(container_id)
    return container_id


def _assert_killed(state: dict[str, object]) -> None:
    assert state["ExitCode"] == 137
    assert state["Running"] is False, state
    assert state["Status"] == "exited"


@pytest.mark.parametrize(
    "kill",
    [
        lambda api, cid: api.kill(cid),  # test_kill
        lambda api, cid: api.kill({"Id": cid}),  # test_kill_with_dict_instead_of_id
    ],
    ids=["default", "dict"],
)
def test_kill_then_inspect_at_once(
    api: docker.APIClient, kill: Callable[[docker.APIClient, str], None]
) -> None:
    container_id = _started(api, ["sleep", "9999"])
    kill(api, container_id)
    _assert_killed(api.inspect_container(container_id)["State"])


@pytest.mark.parametrize("sig", [signal.SIGKILL, "SIGKILL", 9], ids=["enum", "name", "integer"])
def test_kill_with_signal(api: docker.APIClient, sig: object) -> None:
    container_id = _started(api, ["sleep", "60"])
    api.kill(container_id, signal=sig)
    assert api.wait(container_id)["StatusCode"] == 137
    _assert_killed(api.inspect_container(container_id)["State"])


def test_remove_right_after_kill(api: docker.APIClient) -> None:
    container_id = _started(api, ["sleep", "9999"])
    api.kill(container_id)
    api.remove_container(container_id)
    assert api.containers(all=True, filters={"id": container_id}) == []


def test_create_with_restart_policy(api: docker.APIClient) -> None:
    container_id = _started(
        api,
        ["sleep", "2"],
        host_config=api.create_host_config(
            restart_policy={"Name": "always", "MaximumRetryCount": 0}, network_mode="none"
        ),
    )
    api.wait(container_id)
    with pytest.raises(docker.errors.APIError) as exc:
        api.remove_container(container_id)
    assert "stop the container before" in exc.value.explanation.lower()
    api.remove_container(container_id, force=True)


def test_an_exit_the_policy_restarts_is_restarting_until_started(api: docker.APIClient) -> None:
    """`exit 3` at once, 100 ms of back-off, again: the wait answers at an exit, which the
    log records with its RestartScheduled, so the container is restarting or running."""
    container_id = _started(
        api,
        ["sh", "-c", "exit 3"],
        host_config=api.create_host_config(restart_policy={"Name": "always"}),
    )
    assert api.wait(container_id)["StatusCode"] == 3
    with pytest.raises(docker.errors.APIError) as exc:
        api.remove_container(container_id)
    assert exc.value.status_code == 409
    message = exc.value.explanation
    assert message.startswith(
        (
            f"You cannot remove a restarting container {container_id}.",
            f"You cannot remove a running container {container_id}.",
        )
    ), message


def test_restart_is_an_event_after_the_start_it_made(api: docker.APIClient) -> None:
    container_id = _started(api, ["sleep", "60"])
    since = int(time.time()) - 1
    api.restart(container_id, timeout=0)
    events = api.events(
        since=since, until=int(time.time()) + 1, decode=True, filters={"container": container_id}
    )
    actions = [event["Action"] for event in events]
    assert actions[-2:] == ["start", "restart"], actions
    assert "die" in actions
