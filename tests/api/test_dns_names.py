"""Containers on user-defined networks find each other by name (ADR/0039), with the docker
CLI against berthd: from inside containers (ping, wget, nslookup), and from the host by
asking the name server on the network's gateway (the host's address there is in the
network's subnet), which lets a test poll the answers as they follow the log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.rcode
import pytest

from ..adapters.dns_harness import upstream
from ..fixtures.berthd import Berthd

#: Generous: the records follow the log within milliseconds; this is a hang's bound.
POLL_BOUND_S = 10.0
REPOSITORY = Path(__file__).resolve().parent.parent.parent
UPSTREAM = ("127.0.9.53", 53)  # the test's own resolver (port 53: --dns has no port)


def run(daemon: Berthd, *args: str) -> str:
    done = daemon.docker(*args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout.strip()


def gateway(daemon: Berthd, network: str) -> str:
    found = json.loads(run(daemon, "network", "inspect", network))[0]
    return str(found["IPAM"]["Config"][0]["Gateway"])


def address(daemon: Berthd, container: str, network: str) -> str:
    doc = json.loads(run(daemon, "inspect", container))[0]
    return str(doc["NetworkSettings"]["Networks"][network]["IPAddress"])


class NotAnswering(Exception):
    """No answer on the gateway (no listener there, yet or any more)."""


#: Run in a container's network namespace: one lookup, printed as [rcode, addresses].
LOOKUP = """
import json, sys
import dns.exception
from tests.adapters.dns_harness import addresses, ask
try:
    found = ask(sys.argv[1], 53, sys.argv[2])
except dns.exception.Timeout:
    sys.exit(3)
print(json.dumps([found.rcode(), addresses(found)]))
"""


def sandbox(daemon: Berthd, container: str) -> str:
    doc = json.loads(run(daemon, "inspect", container))[0]
    return Path(doc["NetworkSettings"]["SandboxKey"]).name


def ask_from(netns: str, server: str, name: str) -> list[str] | None:
    """`name` asked of `server` from inside the namespace `netns` (as its container would
    ask: the host's own queries to a gateway leave through masquerade); None: NXDOMAIN."""
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", LOOKUP, server, name],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode == 3:
        raise NotAnswering(server)
    assert done.returncode == 0, done.stderr
    rcode, found = json.loads(done.stdout)
    if rcode == dns.rcode.NXDOMAIN:
        return None
    assert rcode == dns.rcode.NOERROR, dns.rcode.to_text(rcode)
    return list(found)


def answer(daemon: Berthd, network: str, name: str) -> list[str] | None:
    """The answer for `name` to the network's lurker (see `app`); None for NXDOMAIN."""
    return ask_from(sandbox(daemon, f"lurker-{network}"), gateway(daemon, network), name)


def until(check: Callable[[], bool], show: Callable[[], object] = lambda: None) -> None:
    """Until `check()`; a name server not (yet) answering on a gateway is a no."""
    deadline = time.monotonic() + POLL_BOUND_S
    while True:
        try:
            if check():
                return
        except NotAnswering:
            pass
        assert time.monotonic() < deadline, f"the answers did not change {show()}"
        time.sleep(0.02)


@pytest.fixture
def resolver() -> Iterator[tuple[str, int]]:
    """Upstream of the test's containers (`--dns`): knows example.test, nothing else."""
    with upstream({"example.test": "192.0.2.7"}, UPSTREAM) as found:
        yield found


@pytest.fixture
def app(berthd: Berthd, resolver: tuple[str, int]) -> Iterator[Berthd]:
    """berthd with networks `app` and `other`, a container on each (a network without
    running containers needs no name server, and has none to ask) whose names not found
    go to the test's resolver; removed afterwards."""
    for network in ("app", "other"):
        run(berthd, "network", "create", network)
        run(berthd, "run", "-d", "--name", f"lurker-{network}", "--network", network,
            "--dns", resolver[0], "busybox", "sleep", "600")  # fmt: skip
    try:
        yield berthd
    finally:
        berthd.docker("rm", "-f", *berthd.docker("ps", "-aq").stdout.split())
        berthd.docker("network", "rm", "app", "other")


HTTPD = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"


def serve_web(daemon: Berthd, name: str = "web", *extra: str) -> None:
    """A web server container, once it answers: `run -d` returns when its process has
    started, before httpd listens (a fast runtime's next container asked too early)."""
    run(daemon, "run", "-d", "--name", name, "--network", "app", *extra,
        "busybox", "sh", "-c", HTTPD)  # fmt: skip
    deadline = time.monotonic() + 30
    while daemon.docker("exec", name, "wget", "-qO-", "http://127.0.0.1/index.html").returncode:
        assert time.monotonic() < deadline, f"{name} never served"
        time.sleep(0.1)


def test_containers_reach_each_other_by_name_alias_and_short_id(
    app: Berthd, resolver: tuple[str, int]
) -> None:
    serve_web(app, "web", "--network-alias", "site")
    web_id = run(app, "inspect", "-f", "{{.Id}}", "web")
    web_ip = address(app, "web", "app")
    script = (
        f"ping -c1 -W5 web && ping -c1 -W5 site && ping -c1 -W5 {web_id[:12]}"
        " && wget -qO- http://web/index.html && wget -qO- http://site/index.html"
        " && nslookup example.test"
    )
    out = run(app, "run", "--rm", "--network", "app", "--dns", resolver[0],
              "busybox", "sh", "-c", script)  # fmt: skip
    assert out.count("hello") == 2
    assert f"({web_ip})" in out  # ping names the address it resolved
    assert "192.0.2.7" in out  # forwarded to the container's own resolver
    conf = run(app, "run", "--rm", "--network", "app", "busybox", "cat", "/etc/resolv.conf")
    assert conf.splitlines()[-2:] == [f"nameserver {gateway(app, 'app')}", "options ndots:0"]


def test_names_of_another_network_do_not_resolve(app: Berthd, resolver: tuple[str, int]) -> None:
    serve_web(app)
    found = app.docker("run", "--rm", "--network", "other", "--dns", resolver[0],
                       "busybox", "busybox", "nslookup", "web")  # fmt: skip
    assert found.returncode != 0
    assert "NXDOMAIN" in found.stdout + found.stderr
    assert answer(app, "other", "lurker-other") == [address(app, "lurker-other", "other")]
    assert answer(app, "other", "web") is None
    assert answer(app, "app", "web") == [address(app, "web", "app")]


def test_answers_follow_rename_disconnect_stop_and_start(
    app: Berthd, resolver: tuple[str, int]
) -> None:
    serve_web(app, "web", "--dns", resolver[0])
    first = address(app, "web", "app")
    assert answer(app, "app", "web") == [first]
    run(app, "rename", "web", "site")
    until(lambda: answer(app, "app", "web") is None and answer(app, "app", "site") == [first])
    run(app, "network", "connect", "--alias", "extra", "other", "site")
    other = address(app, "site", "other")
    until(lambda: answer(app, "other", "extra") == [other])
    # On both networks, it knows the names of both from its one nameserver (app's gateway).
    site_ns, app_gateway = sandbox(app, "site"), gateway(app, "app")
    lurker = [address(app, "lurker-other", "other")]
    assert ask_from(site_ns, app_gateway, "lurker-other") == lurker
    run(app, "network", "disconnect", "other", "site")
    until(lambda: ask_from(site_ns, app_gateway, "lurker-other") is None)
    run(app, "stop", "-t", "1", "site")
    until(lambda: answer(app, "app", "site") is None)
    run(app, "start", "site")
    until(lambda: answer(app, "app", "site") == [address(app, "site", "app")])


def test_a_shared_alias_is_answered_round_robin(app: Berthd) -> None:
    for n in range(3):
        serve_web(app, f"web{n}", "--network-alias", "pool")
    members = sorted(address(app, f"web{n}", "app") for n in range(3))
    firsts = set()
    for _ in range(3):
        found = answer(app, "app", "pool")
        assert found is not None and sorted(found) == members
        firsts.add(found[0])
    assert sorted(firsts) == members
    out = run(app, "run", "--rm", "--network", "app", "busybox", "wget", "-qO-", "http://pool/")
    assert out == "hello"


def test_the_name_server_outlives_a_killed_berthd_and_is_adopted(
    start_berthd: Callable[..., Berthd],
) -> None:
    first = start_berthd()
    run(first, "network", "create", "app")
    serve_web(first)
    at, web_ip, netns = gateway(first, "app"), address(first, "web", "app"), sandbox(first, "web")
    pid = (first.root / "dns" / "server.pid").read_text()
    first.process.kill()
    first.wait_killed()
    assert ask_from(netns, at, "web") == [web_ip]  # while berthd is down
    second = start_berthd()  # on the same root
    assert (second.root / "dns" / "server.pid").read_text() == pid
    run(second, "rename", "web", "site")
    until(lambda: ask_from(netns, at, "site") == [web_ip])
    run(second, "rm", "-f", "site")
    run(second, "network", "rm", "app")
    until(lambda: not (second.root / "dns").exists())


def test_a_link_on_a_user_network_is_a_name_of_its_container_only(app: Berthd) -> None:
    serve_web(app)
    fetched = run(app, "run", "--rm", "--network", "app", "--link", "web:db",
                  "busybox", "sh", "-c", "wget -qO- http://db/index.html; env")  # fmt: skip
    assert fetched.splitlines()[0] == "hello"
    assert "DB_NAME" not in fetched  # no link variables on a user network, as dockerd
    assert answer(app, "app", "db") is None
