"""Docker's `-p` syntax and the forwards a container asks for — pure functions, with
hypothesis for the parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.published_ports import (
    PublishedPort,
    list_ports,
    parse_publish,
    parse_publish_all,
    port_map,
    requested_forwards,
)


@pytest.mark.parametrize(
    ("spec", "exposed", "bindings"),
    [
        ("80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
        ("8080:80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
        ("127.0.0.1::80", ["80/tcp"], {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
        (
            "127.0.0.1:8080:80/udp",
            ["80/udp"],
            {"80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
        ),
        (
            "8000-8001:80-81",
            ["80/tcp", "81/tcp"],
            {
                "80/tcp": [{"HostIp": "", "HostPort": "8000"}],
                "81/tcp": [{"HostIp": "", "HostPort": "8001"}],
            },
        ),
        ("8000-8010:80", ["80/tcp"], {"80/tcp": [{"HostIp": "", "HostPort": "8000-8010"}]}),
    ],
)
def test_publish_specs_as_the_docker_cli_reads_them(
    spec: str, exposed: list[str], bindings: dict[str, list[dict[str, str]]]
) -> None:
    assert parse_publish(spec) == (exposed, bindings)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid publish specification"),
        ("80/xyz", "invalid proto: xyz"),
        ("0", "invalid containerPort: 0"),
        ("70000", "invalid containerPort: 70000"),
        ("abc:80", "invalid hostPort: abc"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("[::1]:80:80", "IPv4 only"),
        ("1:2:3:4", "invalid port format"),
        ("8000-8002:80-81", "invalid ranges specified"),
        ("8080:", "no port specified"),
    ],
)
def test_bad_publish_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[")):
        parse_publish(spec)


@given(
    st.one_of(st.just(""), st.ip_addresses(v=4).map(str)),
    st.integers(0, 65535),
    st.integers(1, 65535),
    st.sampled_from(["tcp", "udp"]),
)
def test_any_valid_spec_round_trips_into_one_forward(
    ip: str, host_port: int, container_port: int, proto: str
) -> None:
    host = str(host_port) if host_port else ""
    spec = f"{ip}:{host}:{container_port}/{proto}" if ip else f"{host}:{container_port}/{proto}"
    if not host and not ip:
        spec = f"{container_port}/{proto}"
    exposed, bindings = parse_publish(spec)
    assert exposed == [f"{container_port}/{proto}"]
    (forward,) = requested_forwards(exposed, bindings, False)
    assert forward == PublishedPort(container_port, proto, ip, host_port)


@given(st.text(max_size=30))
def test_the_parser_never_fails_other_than_with_invalid_parameter(spec: str) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_publish(spec)


def test_publish_all_adds_exposed_ports_and_sctp_is_not_forwarded() -> None:
    exposed, bindings = parse_publish_all(["8080:80", "127.0.0.1::53/udp"])
    forwards = requested_forwards([*exposed, "443/tcp", "9/sctp"], bindings, True)
    assert forwards == [
        PublishedPort(53, "udp", "127.0.0.1", 0),
        PublishedPort(80, "tcp", "", 8080),
        PublishedPort(443, "tcp", "", 0),
    ]
    assert requested_forwards(["443/tcp"], None, False) == []


def test_port_map_and_list_entries_in_docker_shapes() -> None:
    ports = port_map(["80/tcp", "443/tcp"], [PublishedPort(80, "tcp", "", 49153)])
    assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}], "443/tcp": None}
    assert list_ports(ports) == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 49153, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"},
    ]
