"""The names of a user-defined network, as containers on it resolve them (ADR/0039).

Every running container on a user-defined network is known there by its name, its short
id and its endpoint's aliases (compose's service name is one), at its address on that
network (and its IPv6 address on an `--ipv6` network); a name several containers share
has all their addresses. Built from the containers' inspect documents alone, so the
records follow whatever the log says of connects, disconnects, renames, starts and exits.
The name server keeps one file of these per network (`to_json`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.domain.errors import InvalidParameter
from berth.domain.links import parse_link

#: Networks whose containers get no names (as dockerd: only user-defined networks do).
UNNAMED_NETWORKS = frozenset({"bridge", "host", "none"})


@dataclass(frozen=True)
class NetworkRecords:
    """A network's names: `listen` the addresses the server answers on (the gateways),
    `subnets` whose clients it answers, `names` each name's addresses (lowercase, in the
    order of a first answer; later answers rotate them), `members` the addresses of the
    network's containers, on any network (a member asking any gateway gets all its
    networks' names),
    `upstreams` the resolvers a member's other names go to when it has its own (`--dns`),
    `private` the names only a member resolves (its links: alias -> the linked container's
    addresses)."""

    network_id: str
    listen: tuple[str, ...]
    subnets: tuple[str, ...]
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    upstreams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    private: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "network": self.network_id,
            "listen": list(self.listen),
            "subnets": list(self.subnets),
            "names": {name: list(addresses) for name, addresses in self.names.items()},
            "members": list(self.members),
            "upstreams": {member: list(found) for member, found in self.upstreams.items()},
            "private": {
                member: {name: list(found) for name, found in names.items()}
                for member, names in self.private.items()
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> NetworkRecords:
        names = document.get("names") or {}
        upstreams = document.get("upstreams") or {}
        private = document.get("private") or {}
        assert isinstance(names, dict) and isinstance(upstreams, dict)
        assert isinstance(private, dict)
        return cls(
            network_id=str(document["network"]),
            listen=tuple(_strings(document.get("listen"))),
            subnets=tuple(_strings(document.get("subnets"))),
            names={str(name): tuple(_strings(values)) for name, values in names.items()},
            members=tuple(_strings(document.get("members", []))),
            upstreams={str(k): tuple(_strings(found)) for k, found in upstreams.items()},
            private={
                str(member): {str(name): tuple(_strings(found)) for name, found in own.items()}
                for member, own in private.items()
            },
        )

    def check(self) -> None:
        """`InvalidParameter` unless every address, subnet and name is well-formed."""
        if not self.network_id.isalnum():
            raise InvalidParameter(f"invalid network id {self.network_id!r}")
        try:
            for address in self.listen:
                ipaddress.ip_address(address)
            for subnet in self.subnets:
                ipaddress.ip_network(subnet, strict=False)
            own = [found for names in self.private.values() for found in names.values()]
            for addresses in (*self.names.values(), *self.upstreams.values(), *own, self.members):
                for address in addresses:
                    ipaddress.ip_address(address)
        except ValueError as error:
            raise InvalidParameter(str(error)) from None
        for name in (*self.names, *(n for names in self.private.values() for n in names)):
            if dns_name(name) != name:
                raise InvalidParameter(f"invalid DNS name {name!r}")


def _strings(values: object) -> Sequence[str]:
    assert isinstance(values, list)
    return [str(value) for value in values]


def dns_name(name: str) -> str | None:
    """`name` as the server keys it (lowercase, no leading slash), None if it cannot be a
    DNS name (a container name may hold `_`, which resolvers pass through; not `..`)."""
    name = name.lstrip("/").lower()
    labels = name.split(".")
    if not name or not all(0 < len(label) <= 63 for label in labels):
        return None
    return name


def network_records(containers: Iterable[Mapping[str, Any]]) -> dict[str, NetworkRecords]:
    """The records of every user-defined network that has a running container (or one
    being started), by network id, from the containers' inspect documents (dockerd's
    shape)."""
    containers_list = list(containers)
    names: dict[str, dict[str, list[str]]] = {}
    members: dict[str, list[str]] = {}
    upstreams: dict[str, dict[str, tuple[str, ...]]] = {}
    shape: dict[str, tuple[str, str]] = {}
    for doc in containers_list:
        if not _has_process(doc.get("State") or {}):
            continue
        own = [doc.get("Name", ""), str(doc.get("Id", ""))[:12]]
        endpoints = [
            (endpoint, str(endpoint["IPAddress"]), str(endpoint["NetworkID"]))
            for network, endpoint in (
                (doc.get("NetworkSettings") or {}).get("Networks") or {}
            ).items()
            if network not in UNNAMED_NETWORKS
            and endpoint.get("IPAddress")
            and endpoint.get("NetworkID")
        ]
        # Each of its addresses is a member of each of its networks: it asks one gateway,
        # from the address it has on that gateway's network, and knows all their names.
        everywhere = [address for _, address, _ in endpoints]
        for endpoint, address, network_id in endpoints:
            prefix = f"{address}/{endpoint.get('IPPrefixLen') or 32}"
            shape[network_id] = (endpoint.get("Gateway") or "", prefix)
            members.setdefault(network_id, []).extend(everywhere)
            dns = tuple((doc.get("HostConfig") or {}).get("Dns") or ())
            if dns:
                upstreams.setdefault(network_id, {})[address] = dns
            table = names.setdefault(network_id, {})
            # An `--ipv6` network's address too: the server answers it to AAAA queries.
            found = [address]
            if endpoint.get("GlobalIPv6Address"):
                found.append(str(endpoint["GlobalIPv6Address"]))
            for alias in dict.fromkeys([*own, *(endpoint.get("Aliases") or [])]):
                key = dns_name(str(alias))
                if key is not None:
                    known = table.setdefault(key, [])
                    known.extend(a for a in found if a not in known)
    private = _linked_names(containers_list, names)
    return {
        network_id: NetworkRecords(
            network_id,
            (gateway,) if gateway else (),
            (str(ipaddress.ip_interface(prefix).network),),
            {name: tuple(found) for name, found in sorted(names[network_id].items())},
            tuple(sorted(members[network_id], key=ipaddress.ip_address)),
            upstreams.get(network_id, {}),
            private.get(network_id, {}),
        )
        for network_id, (gateway, prefix) in shape.items()
    }


def _linked_names(
    containers: Sequence[Mapping[str, Any]], names: Mapping[str, Mapping[str, list[str]]]
) -> dict[str, dict[str, dict[str, tuple[str, ...]]]]:
    """By network, by member address: the aliases of its links (`name:alias`, in
    `HostConfig.Links` as compose sends them, or the endpoint's as the docker CLI does) to
    a container known by that name on the same network."""
    private: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {}
    for doc in containers:
        links = (doc.get("HostConfig") or {}).get("Links") or []
        if not _has_process(doc.get("State") or {}):
            continue
        for endpoint in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).values():
            address, network_id = endpoint.get("IPAddress"), endpoint.get("NetworkID")
            table = names.get(network_id or "", {})
            for link in [*links, *(endpoint.get("Links") or [])]:
                target, alias = parse_link(str(link))
                key, found = dns_name(alias), table.get(dns_name(target) or "")
                if address and key and found:
                    private.setdefault(network_id, {}).setdefault(address, {})[key] = tuple(found)
    return private


def _has_process(state: Mapping[str, Any]) -> bool:
    """Running, or being started: a `created` container with an address is one whose
    network is set up for the process about to run (berth gives addresses at start only),
    so that it is known, and knows its upstreams, from its first query on."""
    if state.get("Restarting"):
        return False
    return bool(state.get("Running")) or state.get("Status") == "created"


def name_server_of(networks: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The nameserver of a container's resolv.conf: the gateway of its first user-defined
    network (`networks` as inspect's NetworkSettings.Networks), None on none."""
    for network, endpoint in networks.items():
        if network not in UNNAMED_NETWORKS and endpoint.get("Gateway"):
            return str(endpoint["Gateway"])
    return None
