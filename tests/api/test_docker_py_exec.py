"""docker-py's own exec tests (tests/integration/api_exec_test.py, docker-py 7.x) against
berthd, one function per test of theirs, with their assertions.

What differs is the image: theirs is alpine:3.10, ours a busybox with few applets linked
and neither their users nor /var/opt, so the fixture links every applet and the tests
that rely on the others create them first (`_with_users`, mkdir).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest
from docker.utils.proxy import ProxyConfig
from docker.utils.socket import next_frame_header, read_exactly

from .conftest import Berthd

API = tuple[docker.APIClient, Berthd]
PASSWD = "root:x:0:0:root:/root:/bin/sh\\npostgres:x:70:70::/var/lib/postgresql:/bin/sh\\n"


@pytest.fixture
def cat(api: API) -> Iterator[tuple[docker.APIClient, str]]:
    """Their setUp: `cat` with stdin open, running."""
    client, _ = api
    container = client.create_container("busybox", "cat", detach=True, stdin_open=True)
    client.start(container["Id"])
    # alpine's applets (printf, env, whoami, ...), which our busybox image links not.
    client.exec_start(client.exec_create(container["Id"], "/bin/busybox --install -s /bin"))
    yield client, container["Id"]
    client.remove_container(container["Id"], force=True)


def _with_users(client: docker.APIClient, container_id: str) -> None:
    made = client.exec_create(container_id, ["sh", "-c", f"printf '{PASSWD}' >/etc/passwd"])
    client.exec_start(made)


def test_execute_command_with_proxy_env(api: API) -> None:
    client, _ = api
    # Set before the create, which puts the proxies in the container's env.
    client._proxy_configs = ProxyConfig(ftp="a", https="b", http="c", no_proxy="d")
    container = client.create_container("busybox", "cat", detach=True, stdin_open=True)
    client.start(container)
    client.exec_start(client.exec_create(container, "/bin/busybox --install -s /bin"))
    cmd = 'sh -c "env | grep -i proxy"'
    res = client.exec_create(container, cmd=cmd)
    output = client.exec_start(res).decode("utf-8").split("\n")
    expected = ["ftp_proxy=a", "https_proxy=b", "http_proxy=c", "no_proxy=d",
                "FTP_PROXY=a", "HTTPS_PROXY=b", "HTTP_PROXY=c", "NO_PROXY=d"]  # fmt: skip
    for item in expected:
        assert item in output
    env = {"https_proxy": "xxx", "HTTPS_PROXY": "XXX"}
    res = client.exec_create(container, cmd=cmd, environment=env)
    output = client.exec_start(res).decode("utf-8").split("\n")
    expected = ["ftp_proxy=a", "https_proxy=xxx", "http_proxy=c", "no_proxy=d",
                "FTP_PROXY=a", "HTTPS_PROXY=XXX", "HTTP_PROXY=c", "NO_PROXY=d"]  # fmt: skip
    for item in expected:
        assert item in output


def test_execute_command(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    res = client.exec_create(container, ["echo", "hello"])
    assert "Id" in res
    assert client.exec_start(res) == b"hello\n"


def test_exec_command_string(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    res = client.exec_create(container, "echo hello world")
    assert "Id" in res
    assert client.exec_start(res) == b"hello world\n"


def test_exec_command_as_user(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    _with_users(client, container)
    res = client.exec_create(container, "whoami", user="postgres")
    assert "Id" in res
    assert client.exec_start(res) == b"postgres\n"


def test_exec_command_as_root(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    _with_users(client, container)
    res = client.exec_create(container, "whoami")
    assert "Id" in res
    assert client.exec_start(res) == b"root\n"


def test_exec_command_streaming(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_id = client.exec_create(container, ["echo", "hello\nworld"])
    assert "Id" in exec_id
    res = b""
    for chunk in client.exec_start(exec_id, stream=True):
        res += chunk
    assert res == b"hello\nworld\n"


def test_exec_start_socket(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    line = "yay, interactive exec!"
    exec_id = client.exec_create(container, ["printf", line], tty=True)
    assert "Id" in exec_id
    socket = client.exec_start(exec_id, socket=True)
    try:
        (stream, next_size) = next_frame_header(socket)
        assert stream == 1
        assert next_size == len(line)
        assert read_exactly(socket, next_size).decode("utf-8") == line
    finally:
        socket.close()


def test_exec_start_detached(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_id = client.exec_create(container, ["printf", "asdqwe"])
    assert "Id" in exec_id
    assert client.exec_start(exec_id, detach=True) == ""


def test_exec_inspect(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_id = client.exec_create(container, ["mkdir", "/does/not/exist"])
    assert "Id" in exec_id
    client.exec_start(exec_id)
    exec_info = client.exec_inspect(exec_id)
    assert "ExitCode" in exec_info
    assert exec_info["ExitCode"] != 0


def test_exec_command_with_env(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    res = client.exec_create(container, "env", environment=["X=Y"])
    assert "Id" in res
    assert b"X=Y\n" in client.exec_start(res)


def test_exec_command_with_workdir(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    client.exec_start(client.exec_create(container, "mkdir -p /var/opt"))
    res = client.exec_create(container, "sh -c pwd", workdir="/var/opt")
    assert client.exec_start(res) == b"/var/opt\n"


def _assert_cat_socket_detached_with_keys(sock: object, inputs: list[bytes]) -> None:
    """docker-py's helper (tests/helpers.py) for a unix socket."""
    raw = getattr(sock, "_sock", sock)
    for key in inputs:
        raw.sendall(key)  # type: ignore[attr-defined]
        time.sleep(0.5)
    try:
        raw.sendall(b"make sure the socket is closed\n")  # type: ignore[attr-defined]
    except OSError:
        return
    raw.sendall(b"make sure the socket is closed\n")  # type: ignore[attr-defined]
    data = raw.recv(128)  # type: ignore[attr-defined]
    assert data == b"" or data.startswith(
        b"exec attach failed: error on attach stdin: read escape sequence"
    )


def test_detach_with_default(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_id = client.exec_create(container, "cat", stdin=True, tty=True, stdout=True)
    sock = client.exec_start(exec_id, tty=True, socket=True)
    try:
        _assert_cat_socket_detached_with_keys(sock, [b"\x10", b"\x11"])
    finally:
        sock.close()


def test_detach_with_config_file(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    client._general_configs["detachKeys"] = "ctrl-p"
    exec_id = client.exec_create(container, "cat", stdin=True, tty=True, stdout=True)
    sock = client.exec_start(exec_id, tty=True, socket=True)
    try:
        _assert_cat_socket_detached_with_keys(sock, [b"\x10"])
    finally:
        sock.close()


# ExecDemuxTest ---------------------------------------------------------------------------

DEMUX_CMD = 'sh -c "{}"'.format(" ; ".join(["echo hello out", "sleep 0.5", "echo hello err >&2"]))


def test_exec_command_no_stream_no_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_log = client.exec_start(client.exec_create(container, DEMUX_CMD))
    assert b"hello out\n" in exec_log
    assert b"hello err\n" in exec_log


def test_exec_command_stream_no_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_log = list(client.exec_start(client.exec_create(container, DEMUX_CMD), stream=True))
    assert len(exec_log) == 2
    assert b"hello out\n" in exec_log
    assert b"hello err\n" in exec_log


def test_exec_command_no_stream_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_log = client.exec_start(client.exec_create(container, DEMUX_CMD), demux=True)
    assert exec_log == (b"hello out\n", b"hello err\n")


def test_exec_command_stream_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    res = client.exec_create(container, DEMUX_CMD)
    exec_log = list(client.exec_start(res, demux=True, stream=True))
    assert len(exec_log) == 2
    assert (b"hello out\n", None) in exec_log
    assert (None, b"hello err\n") in exec_log


def test_exec_command_tty_no_stream_no_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_log = client.exec_start(client.exec_create(container, DEMUX_CMD, tty=True))
    assert exec_log == b"hello out\r\nhello err\r\n"


def test_exec_command_tty_stream_no_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    res = client.exec_create(container, DEMUX_CMD, tty=True)
    exec_log = list(client.exec_start(res, stream=True))
    assert b"hello out\r\n" in exec_log
    if len(exec_log) == 2:
        assert b"hello err\r\n" in exec_log
    else:
        assert len(exec_log) == 3
        assert b"hello err" in exec_log
        assert b"\r\n" in exec_log


def test_exec_command_tty_no_stream_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    exec_log = client.exec_start(client.exec_create(container, DEMUX_CMD, tty=True), demux=True)
    assert exec_log == (b"hello out\r\nhello err\r\n", None)


def test_exec_command_tty_stream_demux(cat: tuple[docker.APIClient, str]) -> None:
    client, container = cat
    res = client.exec_create(container, DEMUX_CMD, tty=True)
    exec_log = list(client.exec_start(res, demux=True, stream=True))
    assert (b"hello out\r\n", None) in exec_log
    if len(exec_log) == 2:
        assert (b"hello err\r\n", None) in exec_log
    else:
        assert len(exec_log) == 3
        assert (b"hello err", None) in exec_log
        assert (b"\r\n", None) in exec_log
