"""berthd `--metrics-addr`: Prometheus text from the projections and the log.

berthd runs as a real process (tests/api/conftest.py) with `--metrics-addr 127.0.0.1:0`;
the bound address is read from its "berthd ready" line. Containers are made through the
Docker API on the unix socket with the `docker` package's low-level client, so the
requests the histogram must count are exactly the ones made here.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pytest
from docker.errors import NotFound
from prometheus_client.parser import text_string_to_metric_families

from berth.runtime.dashboard import parse_listen_address

from .conftest import BIN, METRICS, Berthd, base_url

STATES = (
    "created",
    "starting",
    "running",
    "paused",
    "restarting",
    "stopping",
    "exited",
    "removing",
    "dead",
    "removed",
)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics, keyed by (name, sorted labels); parsing must succeed."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return value(
        samples,
        "berth_api_request_duration_seconds_count",
        method=method,
        route=route,
        status=str(status),
    )


def test_metrics_show_containers_events_lags_and_requests(
    api: tuple[docker.APIClient, Berthd], start_berthd: Callable[..., Berthd]
) -> None:
    client, daemon = api
    url = base_url(daemon)
    before = scrape(url)
    assert all(value(before, "berth_containers", state=s) == 0 for s in STATES)
    assert value(before, "berth_events_total", type="image.Loaded") == 1  # the busybox import
    assert value(before, "berth_projection_lag_events") == 0

    prefix = f"m{uuid.uuid4().hex[:8]}"
    ids = [
        client.create_container("busybox", ["true"], name=f"{prefix}-{n}")["Id"] for n in range(3)
    ]
    client.remove_container(ids[2])
    for container_id in ids[:2]:
        client.inspect_container(container_id)
        client.inspect_container(container_id[:12])
    with pytest.raises(NotFound):
        client.inspect_container(f"{prefix}-missing")
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket))) as raw:
        assert raw.get("http://berthd/no/such/route").status_code == 404

    after = scrape(url)
    assert value(after, "berth_containers", state="created") == 2
    assert all(value(after, "berth_containers", state=s) == 0 for s in STATES if s != "created")
    assert value(after, "berth_events_total", type="container.Created") == 3
    assert value(after, "berth_events_total", type="container.Removed") == 1
    assert value(after, "berth_events_total", type="name.Registered") == 3
    assert value(after, "berth_events_total", type="image.Loaded") == 1
    assert value(after, "berth_projection_lag_events") == 0
    head = value(after, "berth_log_position")
    assert head == sum(v for (name, _), v in after.items() if name == "berth_events_total")

    assert requests(after, "POST", "/containers/create", 201) == 3
    assert requests(after, "DELETE", "/containers/{id}", 204) == 1
    assert requests(after, "GET", "/containers/{id}/json", 200) == 4
    assert requests(after, "GET", "/containers/{id}/json", 404) == 1
    assert requests(after, "GET", "unmatched", 404) == 1
    routes = {dict(labels).get("route") for (name, labels) in after if "request" in name}
    assert routes == {
        "/containers/create",
        "/containers/{id}",
        "/containers/{id}/json",
        "unmatched",
    }
    total = sum(v for (n, _), v in after.items() if n == "berth_api_request_duration_seconds_count")
    assert total == 10
    for (name, labels), count in after.items():
        if name == "berth_api_request_duration_seconds_count":
            inf = dict(labels) | {"le": "+Inf"}
            bucket = ("berth_api_request_duration_seconds_bucket", tuple(sorted(inf.items())))
            assert after[bucket] == count

    # The follower catches up within its poll interval; the lag is then zero.
    deadline = time.monotonic() + 5
    while value(scrape(url), "berth_reactor_lag_events") != 0:
        assert time.monotonic() < deadline, "the reactor never caught up"
        time.sleep(0.1)

    # Counts come from the log, not from memory: a restarted berthd shows the same.
    daemon.stop()
    again = start_berthd(args=METRICS)
    restarted = scrape(base_url(again))
    for key, count in after.items():
        if key[0] in ("berth_containers", "berth_events_total", "berth_log_position"):
            assert restarted[key] == count, key
    assert requests(restarted, "POST", "/containers/create", 201) == 0


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0:9323",
        "192.0.2.10:9323",
        "[::]:9323",
        "example.com:9323",
        "127.0.0.1",
        "127.0.0.1:x",
    ],
)
def test_metrics_addr_must_be_a_loopback_host_and_port(tmp_path: Path, address: str) -> None:
    socket_path = tmp_path / "run" / "berth.sock"
    result = subprocess.run(
        [
            str(BIN / "berthd"),
            "--root",
            str(tmp_path / "root"),
            "-H",
            f"unix://{socket_path}",
            "--metrics-addr",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "--metrics-addr" in result.stderr
    assert "Traceback" not in result.stderr
    assert not socket_path.exists()


def test_slow_and_silent_clients_do_not_block_berthd(api: tuple[docker.APIClient, Berthd]) -> None:
    client, daemon = api
    url = base_url(daemon)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stalled: list[socket.socket] = []
    try:
        host_line = f"Host: {host}:{port}\r\n".encode()
        for head in (b"GET / HTTP/1.1\r\n" + host_line, b"", b"GET /metr"):
            stalled.append(socket.create_connection((host, int(port)), timeout=5))
            stalled[-1].sendall(head)
        # An event stream that is never read.
        reader = socket.create_connection((host, int(port)), timeout=5)
        stalled.append(reader)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.sendall(b"GET /api/events?since=0 HTTP/1.1\r\n" + host_line + b"\r\n")
        for n in range(20):
            client.create_container("busybox", ["true"], name=f"s{uuid.uuid4().hex[:8]}-{n}")
        started = time.monotonic()
        samples = scrape(url)
        assert client.ping()
        assert time.monotonic() - started < 1.0
        assert value(samples, "berth_containers", state="created") == 20
        # Stalled connections do not hold up a clean shutdown either.
        stopping = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - stopping < 5
    finally:
        for connection in stalled:
            connection.close()


def test_only_get_from_loopback_hosts(api: tuple[docker.APIClient, Berthd]) -> None:
    _, daemon = api
    url = base_url(daemon)
    assert httpx.post(f"{url}/metrics", timeout=5).status_code == 405
    port = url.rpartition(":")[2]
    rebound = httpx.get(f"{url}/metrics", headers={"Host": f"attacker.example:{port}"}, timeout=5)
    assert rebound.status_code == 400
    assert f"127.0.0.1:{port}" in rebound.json()["message"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        response = httpx.get(f"{url}/metrics", headers={"Host": host}, timeout=5)
        assert response.status_code == 200, host
    assert httpx.get(f"{url}/nothing-here", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:9323", "127.0.0.1", 9323),
        ("127.8.9.10:0", "127.8.9.10", 0),
        ("localhost:80", "127.0.0.1", 80),
        ("[::1]:9323", "::1", 9323),
    ],
)
def test_loopback_addresses_are_accepted(text: str, host: str, port: int) -> None:
    address = parse_listen_address(text)
    assert (address.host, address.port) == (host, port)


def test_metrics_addr_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        socket_path = tmp_path / "run" / "berth.sock"
        result = subprocess.run(
            [
                str(BIN / "berthd"),
                "--root",
                str(tmp_path / "root"),
                "-H",
                f"unix://{socket_path}",
                "--metrics-addr",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert f"cannot serve metrics on http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not socket_path.exists()
