"""The HTTP edges, over a raw unix socket: errors, limits, keep-alive, streams, hijack."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from typing import Any

import h11

from berth.runtime.api.server import Router, split_version
from berth.runtime.api.streams import frame

from .conftest import Berthd


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split a byte string of whole stdcopy frames back into (stream, payload)."""
    out: list[tuple[int, bytes]] = []
    while len(data) >= 8:
        stream, length = struct.unpack(">BxxxI", data[:8])
        out.append((stream, data[8 : 8 + length]))
        data = data[8 + length :]
    return out


class Client:
    """An HTTP/1.1 client on one connection (keep-alive), parsing with h11."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = h11.Connection(h11.CLIENT)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        all_headers = [("Host", "berth"), ("Content-Length", str(len(body))), *(headers or [])]
        data = self.conn.send(h11.Request(method=method, target=path, headers=all_headers))
        data += self.conn.send(h11.Data(data=body)) if body else b""
        data += self.conn.send(h11.EndOfMessage())
        self.sock.sendall(data)
        status, response_headers, chunks = 0, {}, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return status, response_headers, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed")


def client(berthd: Berthd) -> Client:
    return Client(berthd.connect())


def message(body: bytes) -> Any:
    return json.loads(body)["message"]


def test_ping_headers_and_keep_alive(berthd: Berthd) -> None:
    c = client(berthd)
    status, headers, body = c.request("HEAD", "/_ping")
    assert (status, body) == (200, b"")
    assert headers["api-version"] == "1.41"
    assert headers["ostype"] == "linux"
    assert headers["docker-experimental"] == "false"
    assert headers["server"].startswith("Docker/")
    assert "date" in headers
    status, _, body = c.request("GET", "/v1.41/_ping")
    assert (status, body) == (200, b"OK")
    status, _, body = c.request("GET", "/v1.24/version")
    assert status == 200 and json.loads(body)["ApiVersion"] == "1.41"


def test_versions_outside_the_range_are_refused(berthd: Berthd) -> None:
    c = client(berthd)
    status, _, body = c.request("GET", "/v1.50/version")
    assert status == 400 and "too new" in message(body)
    status, _, body = c.request("GET", "/v1.12/version")
    assert status == 400 and "too old" in message(body)


def test_unknown_path_is_404_and_the_connection_lives_on(berthd: Berthd) -> None:
    c = client(berthd)
    status, headers, body = c.request("GET", "/v1.41/nothing/here")
    assert status == 404 and message(body) == "page not found"
    assert headers["content-type"] == "application/json"
    status, _, body = c.request("GET", "/v1.41/containers/nope/json")
    assert status == 404 and message(body) == "No such container: nope"
    assert c.request("GET", "/_ping")[0] == 200


def test_bad_bodies_are_400_and_change_nothing(berthd: Berthd) -> None:
    c = client(berthd)
    for body in (
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b'{"Image": 5}',
        b'{"Image": "busybox", "Cmd": 5}',
        b'{"Image": "busybox", "HostConfig": "x"}',
        b'{"Image": "busybox", "Env": [1]}',
        b'{"Image": "busybox", "Labels": {"a": 1}}',
        b"[" * 100_000,
    ):
        status, _, answer = c.request(
            "POST", "/v1.41/containers/create", body, [("Content-Type", "application/json")]
        )
        assert status == 400, (body[:40], answer)
        assert isinstance(message(answer), str)
    status, _, answer = c.request("POST", "/v1.41/containers/create?name=a/b", b'{"Image":"x"}')
    assert status in (400, 404)
    assert json.loads(c.request("GET", "/v1.41/containers/json?all=1")[2]) == []


def test_chunked_request_bodies_and_expect_continue(berthd: Berthd) -> None:
    sock = berthd.connect()
    body = b'{"Image":"busybox","Cmd":["true"]}'
    sock.sendall(
        b"POST /v1.41/containers/create?name=chunky HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")
    for part in (body[:10], body[10:]):
        sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 "), answer
    assert berthd.docker("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["chunky"]


def test_a_huge_body_is_refused(berthd: Berthd) -> None:
    sock = berthd.connect()
    sock.sendall(
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 100000000\r\nContent-Type: application/json\r\n\r\n"
    )
    chunk = b"x" * 65536
    try:
        for _ in range(400):  # 25 MiB, more than the limit
            sock.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"too large" in answer
    assert client(berthd).request("GET", "/_ping")[0] == 200


def test_malformed_http_and_bad_queries_do_not_hurt(berthd: Berthd) -> None:
    sock = berthd.connect()
    sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 400")
    sock.close()
    c = client(berthd)
    for path in (
        "/v1.41/containers/json?filters=%7Bbad",
        "/v1.41/containers/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
        "/v1.41/containers/json?limit=abc",
        "/v1.41/containers/json?filters=%7B%22name%22%3A%5B%22%28%22%5D%7D",
    ):
        status, _, body = c.request("GET", path)
        assert status == 400, (path, body)
    status, _, body = c.request("POST", "/v1.41/images/create")
    assert status == 400
    # dockerd's load answers its refusal in the stream.
    status, _, body = c.request("POST", "/v1.41/images/load", b"not a tar")
    assert status == 200 and json.loads(body)["error"].startswith("invalid image archive"), body
    status, _, body = c.request("POST", "/v1.41/images/create?fromSrc=-&repo=x", b"not a tar")
    assert status == 400, body
    # A client that connects and goes away at once.
    berthd.connect().close()
    assert c.request("GET", "/_ping")[0] == 200


def test_peer_credentials_go_into_the_events(berthd: Berthd) -> None:
    c = client(berthd)
    status, _, body = c.request(
        "POST", "/v1.41/containers/create?name=creds", b'{"Image":"busybox","Cmd":["true"]}'
    )
    assert status == 201, body
    assert json.loads(body)["Warnings"] == []
    history = berthd.berth("history", "creds").stdout
    assert f"api uid={os.getuid()} pid={os.getpid()}" in history


def test_logs_are_frames_in_chunks_without_content_type(berthd: Berthd) -> None:
    run = berthd.docker("run", "--name", "logged", "busybox", "sh", "-c", "echo a; echo b >&2")
    assert run.returncode == 0
    c = client(berthd)
    status, headers, body = c.request("GET", "/v1.41/containers/logged/logs?stdout=1&stderr=1")
    assert status == 200
    assert "content-type" not in headers
    assert headers["transfer-encoding"] == "chunked"
    assert sorted(parse_frames(body)) == [(1, b"a\n"), (2, b"b\n")]
    status, _, body = c.request("GET", "/v1.41/containers/logged/logs?stdout=1&timestamps=1")
    assert parse_frames(body)[0][1].endswith(b"Z a\n")
    status, _, body = c.request("GET", "/v1.41/containers/logged/logs")
    assert status == 400
    status, _, body = c.request(
        "GET", "/v1.41/containers/logged/logs?stdout=1&stderr=1&follow=1&tail=1"
    )
    assert len(parse_frames(body)) == 1


def _attach(berthd: Berthd, container_id: str, out: list[bytes]) -> None:
    sock = berthd.connect()
    sock.settimeout(30)
    sock.sendall(
        f"POST /v1.41/containers/{container_id}/attach?stderr=1&stdout=1&stream=1 HTTP/1.1\r\n"
        "Host: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    assert b"application/vnd.docker.raw-stream" in head
    sock.shutdown(socket.SHUT_WR)  # as the docker CLI does: not a disconnect
    while True:
        more = sock.recv(65536)
        if not more:
            break
        rest += more
    sock.close()
    out.append(rest)


def test_two_attaches_with_half_close_get_all_output(berthd: Berthd) -> None:
    c = client(berthd)
    body = b'{"Image":"busybox","Cmd":["sh","-c","sleep 0.3; echo one; echo two >&2"]}'
    status, _, answer = c.request("POST", "/v1.41/containers/create", body)
    assert status == 201
    container_id = json.loads(answer)["Id"]
    outputs: list[bytes] = []
    threads = [threading.Thread(target=_attach, args=(berthd, container_id, outputs))]
    threads.append(threading.Thread(target=_attach, args=(berthd, container_id, outputs)))
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    assert c.request("POST", f"/v1.41/containers/{container_id}/start")[0] == 204
    for thread in threads:
        thread.join(30)
    assert len(outputs) == 2
    for output in outputs:
        assert sorted(parse_frames(output)) == [(1, b"one\n"), (2, b"two\n")]
    status, _, answer = c.request("POST", f"/v1.41/containers/{container_id}/wait")
    assert json.loads(answer) == {"Error": None, "StatusCode": 0}
    assert c.request("POST", f"/v1.41/containers/{container_id}/start")[0] == 204
    assert c.request("POST", f"/v1.41/containers/{container_id}/wait")[0] == 200
    status, headers, _ = c.request("POST", f"/v1.41/containers/{container_id}/stop")
    assert status == 304 and "content-type" not in headers


def test_wait_headers_come_at_once_and_a_client_may_leave(berthd: Berthd) -> None:
    run = berthd.docker("run", "-d", "--name", "waited", "busybox", "sleep", "30")
    assert run.returncode == 0
    sock = berthd.connect()
    sock.sendall(
        b"POST /v1.41/containers/waited/wait?condition=next-exit HTTP/1.1\r\n"
        b"Host: x\r\nContent-Length: 0\r\n\r\n"
    )
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Transfer-Encoding: chunked" in head
    sock.close()
    c = client(berthd)
    assert c.request("GET", "/_ping")[0] == 200
    status, _, body = c.request("POST", "/v1.41/containers/waited/wait?condition=bogus")
    assert status == 400
    assert c.request("POST", "/v1.41/containers/waited/kill?signal=KILL")[0] == 204
    status, _, body = c.request("POST", "/v1.41/containers/waited/wait")
    assert json.loads(body)["StatusCode"] == 137
    status, _, body = c.request("POST", "/v1.41/containers/waited/kill")
    assert status == 409


def test_images_endpoints_raw(berthd: Berthd, tmp_path: Any) -> None:
    c = client(berthd)
    status, _, body = c.request("GET", "/v1.41/images/json")
    (entry,) = json.loads(body)
    assert entry["RepoTags"] == ["busybox:latest"]
    status, _, body = c.request("POST", "/v1.41/images/busybox/tag?repo=copy&tag=one")
    assert status == 201
    status, _, body = c.request("GET", "/v1.41/images/copy:one/json")
    assert status == 200 and json.loads(body)["Id"] == entry["Id"]
    status, _, body = c.request("DELETE", "/v1.41/images/copy:one")
    assert status == 200 and json.loads(body) == [{"Untagged": "copy:one"}]
    tarball = (tmp_path / "busybox.tar").read_bytes()
    status, _, body = c.request(
        "POST", "/v1.41/images/create?fromSrc=-&repo=imported&tag=v2", tarball
    )
    assert status == 200, body
    assert json.loads(body)["status"].startswith("sha256:")
    listed = berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(listed) == ["busybox:latest", "imported:v2"]


def test_streams_and_router_units() -> None:
    assert frame(1, b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert parse_frames(frame(2, b"x") + frame(1, b"")) == [(2, b"x"), (1, b"")]
    assert split_version("/v1.41/containers/json") == ("1.41", "/containers/json")
    assert split_version("/_ping") == ("1.41", "/_ping")
    router = Router()
    assert router.routes == []
