"""What the name server answers for one network, as the engine publishes it.

One file per network under the server's directory, `networks/<network id>.json`, replaced
atomically, so that the server reading it at a reload sees the old records or the new.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from berth.domain.errors import InvalidParameter


@dataclass(frozen=True)
class NetworkRecords:
    """A network's names: `listen` the addresses the server answers on (the gateways),
    `subnets` whose clients it answers, `names` each name's addresses (lowercase, in the
    order of a first answer; later answers rotate them)."""

    network_id: str
    listen: tuple[str, ...]
    subnets: tuple[str, ...]
    names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "network": self.network_id,
            "listen": list(self.listen),
            "subnets": list(self.subnets),
            "names": {name: list(addresses) for name, addresses in self.names.items()},
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> NetworkRecords:
        names = document.get("names") or {}
        assert isinstance(names, dict)
        return cls(
            network_id=str(document["network"]),
            listen=tuple(_strings(document.get("listen"))),
            subnets=tuple(_strings(document.get("subnets"))),
            names={str(name): tuple(_strings(values)) for name, values in names.items()},
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
            for addresses in self.names.values():
                for address in addresses:
                    ipaddress.ip_address(address)
        except ValueError as error:
            raise InvalidParameter(str(error)) from None
        for name in self.names:
            labels = name.split(".")
            if name != name.lower() or not all(0 < len(label) <= 63 for label in labels):
                raise InvalidParameter(f"invalid DNS name {name!r}")


def _strings(values: object) -> Sequence[str]:
    assert isinstance(values, list)
    return [str(value) for value in values]
