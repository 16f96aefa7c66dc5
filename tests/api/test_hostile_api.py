"""Hostile requests a fuzzer found, each pinned: a 400 with Docker's words, never a 500,
nothing recorded for a refused request, and no request that holds the daemon up."""

from __future__ import annotations

import json
import os
import threading
from urllib.parse import quote

from .conftest import Berthd
from .fuzz_draws import tarball
from .fuzzing import Answer, call, events_by, log_head, request

TRAPS_TERM = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


def run(berthd: Berthd, name: str, cmd: list[str], **extra: object) -> str:
    made = call(berthd.socket, "POST", f"/containers/create?name={name}", {
        "Image": "busybox", "Cmd": cmd, **extra
    })  # fmt: skip
    assert made.status == 201, made
    assert call(berthd.socket, "POST", f"/containers/{name}/start").status == 204
    container_id: str = json.loads(made.body)["Id"]
    return container_id


def refused(berthd: Berthd, method: str, target: str, body: object = None) -> str:
    """The request's 400 message; it must not have appended anything to the log (events
    the engine records on its own, such as an exit, may land meanwhile)."""
    before = log_head(berthd.root)
    answer = call(berthd.socket, method, target, body)
    assert answer.status == 400, (target, answer)
    assert events_by(berthd.root, before, os.getpid()) == [], target
    message: str = json.loads(answer.body)["message"]
    return message


def state(berthd: Berthd, name: str) -> str:
    inspected = call(berthd.socket, "GET", f"/containers/{name}/json")
    status: str = json.loads(inspected.body)["State"]["Status"]
    return status


def test_a_signal_the_runtime_cannot_send_is_refused_before_it_is_recorded(
    berthd: Berthd,
) -> None:
    run(berthd, "target", TRAPS_TERM, HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    for signal, message in (
        ("FOO", "Invalid signal: FOO"),
        ("0", "Invalid signal: 0"),
        ("32", "The linux daemon does not support signal 32"),
        ("-9", "The linux daemon does not support signal -9"),
        ("99999999999999999999", "Invalid signal: 99999999999999999999"),
    ):
        assert refused(berthd, "POST", f"/containers/target/kill?signal={signal}") == message
    assert state(berthd, "target") == "running"
    history = berthd.berth("history", "target").stdout
    assert "KillRequested" not in history
    assert call(berthd.socket, "POST", "/containers/target/kill?signal=term").status == 204
    assert call(berthd.socket, "POST", "/containers/target/wait").status == 200
    assert "signal=SIGTERM" in berthd.berth("history", "target").stdout


def test_stop_and_restart_timeouts_out_of_range_are_400_and_negative_waits(
    berthd: Berthd,
) -> None:
    run(berthd, "stoppable", TRAPS_TERM)
    for t in ("99999999999999999999", "1e3", "abc", "٣", " 1"):
        for verb in ("stop", "restart"):
            target = f"/containers/stoppable/{verb}?t={quote(t)}"
            assert refused(berthd, "POST", target) == f"invalid value for t: {t!r}"
    assert state(berthd, "stoppable") == "running"
    # As dockerd: a negative timeout waits as long as the container takes to exit.
    assert call(berthd.socket, "POST", "/containers/stoppable/stop?t=-5").status == 204
    assert state(berthd, "stoppable") == "exited"
    assert call(berthd.socket, "POST", "/containers/stoppable/restart?t=-1").status == 204
    assert state(berthd, "stoppable") == "running"


def test_times_tails_limits_and_positions_out_of_range_are_400(berthd: Berthd) -> None:
    run(berthd, "talker", ["echo", "hello"])
    assert call(berthd.socket, "POST", "/containers/talker/wait").status == 200
    logs = "/containers/talker/logs?stdout=1"
    for query in ("since=1e30", "until=inf", "since=nan", "until=99999999999999999999"):
        assert refused(berthd, "GET", f"{logs}&{query}").startswith("invalid value for ")
    # A tail that is not an int is every line, as dockerd's strconv.Atoi failing means.
    for query in ("tail=99999999999999999999", "tail=1e3"):
        assert b"hello" in call(berthd.socket, "GET", f"{logs}&{query}").body
    # Within int64 but past what a datetime holds: no line is that late, every line earlier.
    far = "99999999999"
    assert call(berthd.socket, "GET", f"{logs}&since={far}").body == b""
    assert b"hello" in call(berthd.socket, "GET", f"{logs}&until={far}&tail=-1").body
    for query in ("since=1e30", "until=-inf", "since=%2399999999999999999999", "since=%23-1"):
        assert refused(berthd, "GET", f"/events?{query}").startswith("invalid value for ")
    assert refused(berthd, "GET", "/containers/json?limit=99999999999999999999") == (
        "invalid value for limit: '99999999999999999999'"
    )


def test_name_filters_match_in_linear_time_and_a_bad_pattern_is_400(berthd: Berthd) -> None:
    made = call(berthd.socket, "POST", f"/containers/create?name={'a' * 40}", {
        "Image": "busybox", "Cmd": ["true"]
    })  # fmt: skip
    assert made.status == 201
    wedge = quote(json.dumps({"name": ["(a|a)*b"]}))
    # A backtracking engine takes longer than the universe's age here; RE2 does not.
    listed = request(berthd.socket, "GET", f"/containers/json?all=1&filters={wedge}", timeout=20)
    assert (listed.status, json.loads(listed.body)) == (200, [])
    found = quote(json.dumps({"name": ["^a+$"]}))
    listed = call(berthd.socket, "GET", f"/containers/json?all=1&filters={found}")
    assert [e["Names"] for e in json.loads(listed.body)] == [["/" + "a" * 40]]
    for pattern in ("(", "a{1000}{1000}", "(a)\\1"):
        target = f"/containers/json?filters={quote(json.dumps({'name': [pattern]}))}"
        assert refused(berthd, "GET", target) == f"invalid filter 'name={pattern}'"
    assert call(berthd.socket, "GET", "/_ping").status == 200


def test_create_values_that_would_reach_host_files_are_refused(berthd: Berthd) -> None:
    injected = "\nnameserver 6.6.6.6"
    for host_config, message in (
        ({"Dns": ["1.1.1.1" + injected]}, f"1.1.1.1{injected} is not an ip address"),
        ({"DnsSearch": ["x" + injected]}, f"x{injected} is not a valid domain"),
        ({"DnsOptions": ["ndots:1\nx"]}, 'invalid DNS option: "ndots:1\\nx"'),
        ({"ExtraHosts": ["a\n6.6.6.6 b:1.2.3.4"]}, 'bad format for add-host: "a\\n6.6.6.6 b:1.2'),
    ):
        body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config}
        assert refused(berthd, "POST", "/containers/create?name=files", body).startswith(message)
    body = {"Image": "busybox", "Cmd": ["true"], "Hostname": "web\n6.6.6.6 bank"}
    assert refused(berthd, "POST", "/containers/create?name=files", body).startswith(
        'invalid Hostname "web\\n6.6.6.6 bank"'
    )
    assert json.loads(call(berthd.socket, "GET", "/containers/json?all=1").body) == []


def test_ping_answers_while_a_container_with_40000_env_entries_starts(berthd: Berthd) -> None:
    env = [f"VARIABLE_{i}=value" for i in range(40_000)]
    results: list[Answer] = []

    def create_and_start() -> None:
        body = {"Image": "busybox", "Cmd": ["sleep", "30"], "Env": env}
        results.append(call(berthd.socket, "POST", "/containers/create?name=envy", body))
        results.append(call(berthd.socket, "POST", "/containers/envy/start"))

    worker = threading.Thread(target=create_and_start)
    worker.start()
    pings = []
    while worker.is_alive():
        # Generous: the quadratic merge held /_ping for minutes.
        pings.append(request(berthd.socket, "GET", "/_ping", timeout=20).status)
    worker.join()
    assert [r.status for r in results] == [201, 204]
    assert pings and set(pings) == {200}
    bundle = berthd.root / "containers" / json.loads(results[0].body)["Id"] / "bundle"
    spec = json.loads((bundle / "config.json").read_text())
    assert len(spec["process"]["env"]) == 40_000 + 2


def test_oversized_headers_are_431_and_the_daemon_serves_on(berthd: Berthd) -> None:
    sock = berthd.connect()
    sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 20_000 + b"\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 431 ")
    sock.close()
    assert call(berthd.socket, "GET", "/_ping").status == 200


def test_filters_berth_cannot_apply_are_refused_not_ignored(berthd: Berthd) -> None:
    for target, message in (
        ("/containers/json?filters=" + quote('{"status":["bogus"]}'), "status=bogus"),
        ("/events?until=1&filters=" + quote('{"color":["red"]}'), "color"),
    ):
        assert refused(berthd, "GET", target) == f"Invalid filter '{message}'"
    done = call(berthd.socket, "GET", "/events?until=1&filters=" + quote('{"type":["image"]}'))
    assert done.status == 200


def test_json_nested_or_of_another_shape_is_400(berthd: Berthd) -> None:
    deep = quote("[" * 20_000)
    assert refused(berthd, "GET", f"/containers/json?filters={deep}").startswith(
        "invalid filters: [[["
    )
    for members in (
        {"index.json": b"[]"},
        {"index.json": b'{"manifests": [1]}'},
        {"manifest.json": b"[" * 100_000},
        {"manifest.json": b'[{"Config": "c.json", "Layers": []}]', "c.json": b"[]"},
    ):
        before = log_head(berthd.root)
        loaded = request(berthd.socket, "POST", "/images/load", tarball(members))
        assert loaded.status == 200, (members, loaded)  # dockerd's: the refusal in the stream
        assert json.loads(loaded.body)["error"].startswith("invalid archive: ")
        assert events_by(berthd.root, before, os.getpid()) == []
