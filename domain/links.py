"""Legacy container links (`--link NAME:ALIAS`) on the default bridge, as dockerd 20.10's
daemon/links: the environment a link gives the container and its /etc/hosts line.

A link's full name is `/<parent>/<alias>`; the variables are named from the alias (upper
case, `-` as `_`), and the child's exposed ports and environment (but HOME and PATH) show
through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import InvalidParameter


def parse_link(entry: str) -> tuple[str, str]:
    """`name:alias` (or `name`, aliased as itself; dockerd's stored form `/name:/p/alias`
    too) → (child name, alias)."""
    name, _, alias = entry.partition(":")
    name = name.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    if not name or not alias:
        raise InvalidParameter(f"invalid link: {entry!r} (NAME:ALIAS)")
    return name, alias


def _port_key(port: str) -> tuple[int, bool]:
    number, _, proto = port.partition("/")
    return int(number), (proto or "tcp").lower() != "tcp"


def link_env(
    link_name: str, child_ip: str, child_env: Iterable[str], exposed: Sequence[str]
) -> list[str]:
    """dockerd's Link.ToEnv: <ALIAS>_PORT..., <ALIAS>_NAME, <ALIAS>_ENV_...; `exposed` as
    "80/tcp". Ranges of contiguous ports also get their _START/_END variables."""
    alias = link_name.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = sorted(exposed, key=_port_key)
    env: list[str] = []
    if ports:
        number, _, proto = ports[0].partition("/")
        env.append(f"{alias}_PORT={proto or 'tcp'}://{child_ip}:{number}")
    i = 0
    while i < len(ports):
        j = _next_contiguous(ports, i)
        if j > i + 1:
            number, _, proto = ports[i].partition("/")
            last, _, last_proto = ports[j].partition("/")
            key = f"{alias}_PORT_{number}_{proto.upper()}"
            env += [
                f"{key}_START={proto}://{child_ip}:{number}",
                f"{key}_ADDR={child_ip}",
                f"{key}_PROTO={proto}",
                f"{key}_PORT_START={number}",
                f"{alias}_PORT_{number}_{last_proto.upper()}_END={last_proto}://{child_ip}:{last}",
                f"{alias}_PORT_{number}_{last_proto.upper()}_PORT_END={last}",
            ]
            i = j + 1
        else:
            i += 1
    for port in ports:
        number, _, proto = port.partition("/")
        key = f"{alias}_PORT_{number}_{proto.upper()}"
        env += [
            f"{key}={proto}://{child_ip}:{number}",
            f"{key}_ADDR={child_ip}",
            f"{key}_PORT={number}",
            f"{key}_PROTO={proto}",
        ]
    env.append(f"{alias}_NAME={link_name}")
    for entry in child_env:
        key, sep, value = entry.partition("=")
        if sep and key not in ("HOME", "PATH"):
            env.append(f"{alias}_ENV_{key}={value}")
    return env


def _next_contiguous(ports: Sequence[str], index: int) -> int:
    value = int(ports[index].partition("/")[0])
    for i in range(index + 1, len(ports)):
        if int(ports[i].partition("/")[0]) > value + 1:
            return i - 1
        value += 1
    return len(ports) - 1


def link_host(alias: str, child_hostname: str, child_name: str) -> str:
    """The names /etc/hosts gives a linked container: alias, hostname, and its name
    unless that is the alias (as an `ip:names` extra host)."""
    names = [alias, child_hostname]
    if alias != child_name:
        names.append(child_name)
    return " ".join(names)
