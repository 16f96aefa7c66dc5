"""docker-py's own `AttachContainerTest` (tests/integration/api_container_test.py, 7.x),
ported to run against berthd; the websocket case speaks through wsproto, as the
`websocket-client` package docker-py uses for it is not installed."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
from docker.utils.socket import next_frame_header, read_exactly
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Request

from .conftest import Berthd

TEST_IMG = "busybox"
LINE = "hi there and stuff and things, words!"
# docker-py's `printf '{LINE}'`, in the shell: the test image has no printf on its PATH.
PRINT_LINE = f"sh -c \"printf '{LINE}'\""


@pytest.fixture
def client(start_berthd: Callable[..., Berthd]) -> Iterator[docker.APIClient]:
    daemon = start_berthd()
    api = docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)
    api.daemon = daemon  # type: ignore[attr-defined]
    try:
        yield api
    finally:
        api.close()


def ctrl_with(char: str) -> bytes:
    return bytes([ord(char) - ord("a") + 1])


def assert_cat_socket_detached_with_keys(sock: Any, inputs: list[bytes]) -> None:
    """docker-py's helper: after the keys, the connection is closed."""
    sock = getattr(sock, "_sock", sock)
    for keys in inputs:
        sock.sendall(keys)
        time.sleep(0.5)  # as docker-py's helper: the keys arrive apart
    try:
        sock.sendall(b"make sure the socket is closed\n")
    except OSError:
        return
    sock.sendall(b"make sure the socket is closed\n")
    data = sock.recv(128)
    assert data == b"" or data.startswith(
        b"exec attach failed: error on attach stdin: read escape sequence"
    )


def test_run_container_streaming(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, "/bin/sh", detach=True, stdin_open=True)
    client.start(container)
    sock = client.attach_socket(container, ws=False)
    assert sock.fileno() > -1
    sock.close()
    client.remove_container(container, force=True)


def test_run_container_reading_socket_http(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, PRINT_LINE, detach=True, tty=False)
    pty_stdout = client.attach_socket(container, {"stdout": 1, "stream": 1, "logs": 1})
    try:
        client.start(container)
        stream, next_size = next_frame_header(pty_stdout)
        assert stream == 1
        assert next_size == len(LINE)
        assert read_exactly(pty_stdout, next_size).decode() == LINE
    finally:
        pty_stdout.close()
    client.wait(container)
    client.remove_container(container)


def ws_attach(daemon: Berthd, container_id: str, query: str) -> tuple[socket.socket, WSConnection]:
    """A websocket attach, its handshake done."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(daemon.socket))
    ws = WSConnection(ConnectionType.CLIENT)
    target = f"/v1.41/containers/{container_id}/attach/ws?{query}"
    sock.sendall(ws.send(Request(host="localhost", target=target)))
    events: list[Any] = []
    while not any(isinstance(e, AcceptConnection) for e in events):
        ws.receive_data(sock.recv(4096))
        events += list(ws.events())
    return sock, ws


def ws_received_until(sock: socket.socket, ws: WSConnection, wanted: bytes) -> bytes:
    received = b""
    while wanted not in received:
        chunk = sock.recv(4096)
        assert chunk, received
        ws.receive_data(chunk)
        for event in ws.events():
            assert isinstance(event, BytesMessage), event  # binary from API 1.28 on
            received += bytes(event.data)
    return received


def test_run_container_reading_socket_ws(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, PRINT_LINE, detach=True, tty=False)
    daemon: Berthd = client.daemon  # type: ignore[attr-defined]
    sock, ws = ws_attach(daemon, container["Id"], "stdout=1&stream=1&logs=1")
    client.start(container)
    assert ws_received_until(sock, ws, LINE.encode()) == LINE.encode()
    sock.close()
    client.wait(container)
    client.remove_container(container)


def test_websocket_carries_stdin_and_unframed_output(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, "cat", stdin_open=True, tty=False)
    daemon: Berthd = client.daemon  # type: ignore[attr-defined]
    sock, ws = ws_attach(daemon, container["Id"], "stream=1")
    client.start(container)
    sock.sendall(ws.send(BytesMessage(b"through the websocket\n")))
    assert ws_received_until(sock, ws, b"\n") == b"through the websocket\n"
    sock.close()
    client.remove_container(container, force=True)


def test_websocket_handshake_is_refused_without_a_key(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, "true")
    key = base64.b64encode(os.urandom(16)).decode()
    answer = client.get(
        client._url("/containers/{0}/attach/ws", container["Id"]),
        headers={"Sec-WebSocket-Key": key},  # no `Upgrade: websocket`
    )
    assert answer.status_code == 400
    client.remove_container(container)


def test_attach_no_stream(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, "echo hello")
    client.start(container)
    client.wait(container, condition="not-running")
    assert client.attach(container, stream=False, logs=True) == b"hello\n"
    client.remove_container(container)


def test_attach_stream_and_cancel(client: docker.APIClient) -> None:
    container = client.create_container(
        TEST_IMG, 'sh -c "sleep 2 && echo hello && sleep 60"', tty=True
    )
    client.start(container)
    output = client.attach(container, stream=True, logs=True)
    threading.Timer(3, output.close).start()
    lines = list(output)
    assert lines == [b"hello\r\n"]
    client.remove_container(container, force=True)


def _cat_with_a_terminal(client: docker.APIClient) -> dict[str, Any]:
    container: dict[str, Any] = client.create_container(
        TEST_IMG, "cat", detach=True, stdin_open=True, tty=True
    )
    client.start(container)
    return container


def test_detach_with_default(client: docker.APIClient) -> None:
    container = _cat_with_a_terminal(client)
    sock = client.attach_socket(container, {"stdin": True, "stream": True})
    assert_cat_socket_detached_with_keys(sock, [ctrl_with("p"), ctrl_with("q")])
    assert client.inspect_container(container)["State"]["Running"]
    client.remove_container(container, force=True)


def test_detach_with_config_file(client: docker.APIClient) -> None:
    client._general_configs["detachKeys"] = "ctrl-p"
    container = _cat_with_a_terminal(client)
    sock = client.attach_socket(container, {"stdin": True, "stream": True})
    assert_cat_socket_detached_with_keys(sock, [ctrl_with("p")])
    client.remove_container(container, force=True)


def test_detach_with_arg(client: docker.APIClient) -> None:
    client._general_configs["detachKeys"] = "ctrl-p"
    container = _cat_with_a_terminal(client)
    sock = client.attach_socket(container, {"stdin": True, "stream": True, "detachKeys": "ctrl-x"})
    assert_cat_socket_detached_with_keys(sock, [ctrl_with("x")])
    client.remove_container(container, force=True)


def test_bad_detach_keys_are_refused_as_dockerd_does(client: docker.APIClient) -> None:
    container = _cat_with_a_terminal(client)
    answer = client.post(
        client._url("/containers/{0}/attach", container["Id"]),
        params={"stdin": 1, "stream": 1, "detachKeys": "ctrl-1"},
    )
    assert answer.status_code == 400
    assert answer.json()["message"] == "Invalid detach keys (ctrl-1) provided"
    client.remove_container(container, force=True)


def test_resize_of_a_container_that_does_not_run_is_a_conflict(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, "cat", tty=True)
    with pytest.raises(docker.errors.APIError) as refused:
        client.resize(container, 30, 100)
    assert refused.value.status_code == 409
    assert f"Container {container['Id']} is not running" in str(refused.value.explanation)
    with pytest.raises(docker.errors.NotFound):
        client.resize("no-such-container", 30, 100)
    for h, message in (("x", "invalid syntax"), ("9" * 20, "value out of range")):
        answer = client.post(client._url("/containers/nosuch/resize"), params={"h": h, "w": 1})
        assert answer.status_code == 400  # before the container is looked up, as dockerd
        assert answer.json()["message"] == f'strconv.Atoi: parsing "{h}": {message}'
    client.remove_container(container)


def test_attach_to_a_paused_container_is_dockerds_conflict(client: docker.APIClient) -> None:
    container = client.create_container(TEST_IMG, "sleep 60")
    client.start(container)
    client.pause(container)
    answer = client.post(
        client._url("/containers/{0}/attach", container["Id"]),
        params={"stream": 1, "stdout": 1},
    )
    assert answer.status_code == 409
    message = answer.json()["message"]
    assert message == f"container {container['Id']} is paused, unpause the container before attach"
    client.unpause(container)
    client.remove_container(container, force=True)
