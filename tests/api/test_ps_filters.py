"""`docker ps` as dockerd answers it (daemon/list.go), with the real docker CLI: the
filters on networks, ports and swarm tasks, and the Command column's quoting."""

from __future__ import annotations

import json

from .conftest import Berthd


def names(berthd: Berthd, *args: str) -> list[str]:
    result = berthd.docker("ps", "-a", "--format", "{{.Names}}", *args)
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def test_network_filter_by_name_and_id(berthd: Berthd) -> None:
    made = berthd.docker("network", "create", "psnet")
    assert made.returncode == 0, made.stderr
    network_id = made.stdout.strip()
    for name, network in (("on", "psnet"), ("off", "none")):
        created = berthd.docker("create", "--name", name, "--network", network, "busybox", "true")
        assert created.returncode == 0, created.stderr
    assert names(berthd, "--filter", "network=psnet") == ["on"]
    # A created container's endpoint has no NetworkID yet (dockerd's neither): by id, a
    # running one matches.
    assert names(berthd, "--filter", f"network={network_id[:10]}") == []
    running = berthd.docker(
        "run", "-d", "--name", "up", "--network", "psnet", "busybox", "sleep", "60"
    )
    assert running.returncode == 0, running.stderr
    assert names(berthd, "--filter", f"network={network_id[:10]}") == ["up"]
    assert names(berthd, "--filter", "network=none") == ["off"]
    assert names(berthd, "--filter", "network=psnet", "--filter", "network=none") == [
        "off",
        "on",
        "up",
    ]
    assert names(berthd, "--filter", "network=nothing") == []


def test_publish_is_a_host_port_and_expose_a_container_port_of_a_running_one(
    berthd: Berthd,
) -> None:
    """As dockerd 20.10: both read what `Ports` lists, so a stopped container has none."""
    run = berthd.docker(
        "run", "-d", "--name", "pub", "-p", "18080:80", "--expose", "9000/udp", "busybox",
        "sleep", "60",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert names(berthd, "--filter", "publish=18080") == ["pub"]
    assert names(berthd, "--filter", "publish=18000-18100/tcp") == ["pub"]
    assert names(berthd, "--filter", "publish=80") == []  # a container port
    assert names(berthd, "--filter", "publish=18080/udp") == []
    assert names(berthd, "--filter", "expose=80") == ["pub"]
    assert names(berthd, "--filter", "expose=9000/udp") == ["pub"]
    assert names(berthd, "--filter", "expose=9000") == []
    stopped = berthd.docker("stop", "-t", "0", "pub")
    assert stopped.returncode == 0, stopped.stderr
    assert names(berthd, "--filter", "publish=18080") == []
    assert names(berthd, "--filter", "expose=80") == []
    refused = berthd.docker("ps", "--filter", "publish=8080:80")
    assert "filter for 'publish' should not contain ':': 8080:80" in refused.stderr
    refused = berthd.docker("ps", "--filter", "publish=abc")
    assert 'error while looking up for publish abc: strconv.ParseUint: parsing "abc"' in (
        refused.stderr
    )


def test_is_task_filter_and_bad_status(berthd: Berthd) -> None:
    created = berthd.docker("create", "--name", "solo", "busybox", "true")
    assert created.returncode == 0, created.stderr
    assert names(berthd, "--filter", "is-task=false") == ["solo"]
    assert names(berthd, "--filter", "is-task=true") == []
    refused = berthd.docker("ps", "--filter", "is-task=maybe")
    assert "Invalid filter 'is-task=[maybe]'" in refused.stderr
    refused = berthd.docker("ps", "--filter", "exited=abc")
    assert 'strconv.Atoi: parsing "abc": invalid syntax' in refused.stderr
    refused = berthd.docker("ps", "--filter", "status=bogus")
    assert refused.returncode == 1
    assert "Error response from daemon: Invalid filter 'status=bogus'" in refused.stderr


def test_command_quotes_arguments_with_spaces(berthd: Berthd) -> None:
    created = berthd.docker("create", "--name", "quoted", "busybox", "sh", "-c", "exit 2")
    assert created.returncode == 0, created.stderr
    listed = berthd.docker("ps", "-a", "--no-trunc", "--format", "{{json .Command}}")
    assert json.loads(listed.stdout) == "\"sh -c 'exit 2'\""
