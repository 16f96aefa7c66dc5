"""Hostile create values and signals: refused in the domain, before anything is recorded.

Values that reach the container's resolv.conf, hosts and hostname files or the kernel
are validated as dockerd's opts validators do; the one signal parser refuses what the
runtime could not send; the env merge stays linear in the number of entries.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import Config, HostConfig, Mount
from berth.domain.errors import InvalidParameter
from berth.domain.network_files import hosts_file, resolv_conf
from berth.domain.settings import verify_settings
from berth.domain.signals import parse_signal, signal_name
from berth.domain.spec import ResolvedUser, build_spec

CONFIG = Config(image="busybox", cmd=("true",))


def refusal(config: Config = CONFIG, **host: Any) -> str:
    with pytest.raises(InvalidParameter) as caught:
        verify_settings(config, HostConfig(**host))
    return caught.value.message


# Signals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [("9", "SIGKILL"), ("kill", "SIGKILL"), ("SIGterm", "SIGTERM"), ("+15", "SIGTERM"),
     ("IOT", "SIGABRT"), ("37", "SIGRTMIN+3"), ("rtmax-1", "SIGRTMAX-1"), ("64", "SIGRTMAX")],
)  # fmt: skip
def test_signal_names_are_canonical(raw: str, name: str) -> None:
    assert signal_name(raw) == name
    assert parse_signal(name) == parse_signal(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("FOO", "Invalid signal: FOO"),
        ("0", "Invalid signal: 0"),
        ("", "Invalid signal: "),
        ("SIG", "Invalid signal: SIG"),
        ("9 ", "Invalid signal: 9 "),
        ("٩", "Invalid signal: ٩"),
        ("99999999999999999999", "Invalid signal: 99999999999999999999"),
        ("-1", "The linux daemon does not support signal -1"),
        ("32", "The linux daemon does not support signal 32"),
        ("65", "The linux daemon does not support signal 65"),
    ],
)
def test_signals_the_runtime_cannot_send_are_refused(raw: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_signal(raw)
    assert caught.value.message == message


@given(st.text(max_size=30))
def test_any_text_is_a_signal_or_a_400(raw: str) -> None:
    try:
        number = parse_signal(raw)
    except InvalidParameter:
        return
    assert 1 <= number <= 64 and parse_signal(signal_name(raw)) == number


# Values that reach files and the kernel -----------------------------------------------------


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"dns": ("1.1.1.1\noptions ndots:15",)}, "1.1.1.1\noptions ndots:15 is not an ip address"),
        ({"dns": ("resolver",)}, "resolver is not an ip address"),
        ({"dns": (" 8.8.8.8",)}, " 8.8.8.8 is not an ip address"),
        ({"dns_search": ("a.example\nnameserver 6.6.6.6",)},
         "a.example\nnameserver 6.6.6.6 is not a valid domain"),
        ({"dns_search": ("-bad.example",)}, "-bad.example is not a valid domain"),
        ({"dns_search": ("123",)}, "123 is not a valid domain"),
        ({"dns_search": ("a" * 300,)}, f"{'a' * 300} is not a valid domain"),
        ({"dns_options": ("ndots:1\nnameserver 6.6.6.6",)},
         'invalid DNS option: "ndots:1\\nnameserver 6.6.6.6"'),
        ({"dns_options": ("",)}, 'invalid DNS option: ""'),
        ({"extra_hosts": ("evil\n6.6.6.6 bank:1.2.3.4",)},
         'bad format for add-host: "evil\\n6.6.6.6 bank:1.2.3.4"'),
        ({"extra_hosts": ("a b:1.2.3.4",)}, 'bad format for add-host: "a b:1.2.3.4"'),
        ({"extra_hosts": ("web:1.2.3.4\nx",)}, 'invalid IP address in add-host: "1.2.3.4\\nx"'),
        ({"binds": ("/a\x00b:/c",)}, 'invalid Binds "/a\\u0000b:/c": contains a NUL character'),
        ({"tmpfs": {"/run": "size=1m\x00"}},
         'invalid Tmpfs "size=1m\\u0000": contains a NUL character'),
        ({"mounts": (Mount(type="tmpfs", target="/t\x00"),)},
         'invalid Mounts "/t\\u0000": contains a NUL character'),
    ],
)  # fmt: skip
def test_host_file_values_are_refused_as_dockerd_does(host: dict[str, Any], message: str) -> None:
    assert refusal(**host) == message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (replace(CONFIG, hostname="web\n6.6.6.6 bank"), 'invalid Hostname "web\\n6.6.6.6 bank"'),
        (replace(CONFIG, hostname="h" * 65), f'invalid Hostname "{"h" * 65}"'),
        (replace(CONFIG, domainname="a b"), 'invalid Domainname "a b"'),
        (replace(CONFIG, env=("A=b\x00c",)), 'invalid Env "A=b\\u0000c"'),
        (replace(CONFIG, cmd=("sh", "-c\x00")), 'invalid Cmd "-c\\u0000"'),
        (replace(CONFIG, entrypoint=("\x00",)), 'invalid Entrypoint "\\u0000"'),
        (replace(CONFIG, user="root\x00"), 'invalid User "root\\u0000"'),
        (replace(CONFIG, working_dir="/w\x00"), 'invalid WorkingDir "/w\\u0000"'),
    ],
)
def test_config_values_for_the_kernel_are_refused(config: Config, message: str) -> None:
    assert refusal(config).startswith(message)


def test_valid_values_pass_and_land_in_the_files_as_given() -> None:
    host = HostConfig(
        dns=("10.0.0.2", "fe80::1"),
        dns_search=("corp.example", "example.", "."),
        dns_options=("ndots:2", "rotate"),
        extra_hosts=("db:10.0.0.3", "v6=[::1]", "gw:host-gateway"),
    )
    config = replace(CONFIG, hostname="web_1.example", domainname="example-1")
    assert verify_settings(config, host) == []
    # dockerd trims the address it validates; so does the file.
    hosts = hosts_file("web", "172.17.0.2", ("db:10.0.0.3\n", "v6=[::1]"))
    assert hosts.splitlines()[-3:] == ["10.0.0.3\tdb", "::1\tv6", "172.17.0.2\tweb"]
    resolv = resolv_conf("nameserver 1.1.1.1\n", host.dns or (), ("corp.example",), ("rotate",))
    assert resolv.splitlines() == [
        "nameserver 10.0.0.2",
        "nameserver fe80::1",
        "search corp.example",
        "options rotate",
    ]


@given(
    dns=st.lists(st.text(max_size=20), max_size=3),
    search=st.lists(st.text(max_size=20), max_size=3),
    options=st.lists(st.text(max_size=20), max_size=3),
    hosts=st.lists(st.text(max_size=20), max_size=3),
)
def test_what_is_accepted_adds_exactly_one_line_per_entry(
    dns: list[str], search: list[str], options: list[str], hosts: list[str]
) -> None:
    host = HostConfig(
        dns=tuple(dns),
        dns_search=tuple(search),
        dns_options=tuple(options),
        extra_hosts=tuple(hosts),
    )
    try:
        verify_settings(CONFIG, host)
    except InvalidParameter:
        return
    resolv = resolv_conf("# host\n", dns, search, options)
    assert len(resolv.splitlines()) == 1 + len(dns) + bool(search) + bool(options)
    written = [h for h in hosts if not h.endswith(":host-gateway")]
    assert len(hosts_file("web", None, written).splitlines()) == 6 + len(written)


# Linear work ------------------------------------------------------------------------------


class CountedEntry(str):
    """An env entry that counts how often the merge splits it."""

    splits = 0

    def partition(self, sep: str) -> tuple[str, str, str]:  # type: ignore[override]
        CountedEntry.splits += 1
        return super().partition(sep)


def test_the_env_merge_is_linear_in_the_number_of_entries() -> None:
    entries = 5000
    image_env = tuple(CountedEntry(f"I{i}=image") for i in range(entries))
    env = (*(CountedEntry(f"C{i}=container") for i in range(entries)), CountedEntry("I0=c"))
    CountedEntry.splits = 0
    spec = build_spec(
        container_id="c" * 64,
        config=replace(CONFIG, env=env),
        host_config=HostConfig(),
        rootfs="/rootfs",
        hostname="h",
        user=ResolvedUser(uid=0, gid=0, additional_gids=()),
        image_env=image_env,
    )
    merged = spec["process"]["env"]
    assert len(merged) == 2 + 2 * entries
    assert merged[2] == "I0=c"  # replaced in its place
    assert CountedEntry.splits <= 2 * (2 * entries + 1)
