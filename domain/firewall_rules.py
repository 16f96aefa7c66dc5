"""Egress and isolation of bridge networks as dockerd gives them, in iptables rules.

One chain per berth root in each of the `filter` and `nat` tables, named from the root
(`BERTH-` and 8 hex digits), jumped to from FORWARD and POSTROUTING: two roots never
touch each other's rules, and removing a root's rules is removing its two chains and two
jumps. The chain is written whole every time (`iptables-restore --noflush` replaces a
chain it declares), so the rules always follow the networks that exist.

Per network with bridge B and subnet S (dockerd's DOCKER-ISOLATION and MASQUERADE):
- B to B is accepted (containers of one network), dropped with
  `com.docker.network.bridge.enable_icc=false`;
- into B only replies (RELATED,ESTABLISHED): no other network, and nothing from outside,
  starts a connection to a container (published ports are user-space forwarders);
- from B to any other berth or docker bridge (`berth+`, `br-+`, `docker+`) is dropped
  before B's own traffic out is accepted, so another root's DROP is never skipped;
- `--internal`: nothing in or out of B but B to B;
- S is masqueraded out of any other interface unless internal or
  `com.docker.network.bridge.enable_ip_masquerade=false`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BRIDGE_PATTERNS = ("berth+", "br-+", "docker+")


@dataclass(frozen=True)
class FirewallNetwork:
    bridge: str
    subnet: str
    internal: bool = False
    masquerade: bool = True
    icc: bool = True  # containers of the network reach each other


@dataclass(frozen=True)
class Ruleset:
    """The rules of one root's chain in each table, as iptables arguments after `-A CHAIN`."""

    chain: str
    filter: tuple[tuple[str, ...], ...]
    nat: tuple[tuple[str, ...], ...]
    # A network without ICC: its bridge's own traffic must go through iptables
    # (net.bridge.bridge-nf-call-iptables), as dockerd's setupBridgeNetFiltering makes it.
    bridge_filtering: bool = False


def chain_name(root_bridge: str) -> str:
    """`BERTH-` and 8 hex digits of the root's own bridge name (unique per root)."""
    return "BERTH-" + hashlib.sha256(root_bridge.encode()).hexdigest()[:8].upper()


def ruleset(chain: str, networks: list[FirewallNetwork]) -> Ruleset:
    filter_rules: list[tuple[str, ...]] = []
    nat_rules: list[tuple[str, ...]] = []
    for n in sorted(networks, key=lambda n: n.bridge):
        b = n.bridge
        filter_rules.append(("-i", b, "-o", b, "-j", "ACCEPT" if n.icc else "DROP"))
        if n.internal:
            filter_rules += [("-i", b, "-j", "DROP"), ("-o", b, "-j", "DROP")]
            continue
        filter_rules += [
            ("-o", b, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
            ("-o", b, "-j", "DROP"),
            *(("-i", b, "-o", pattern, "-j", "DROP") for pattern in BRIDGE_PATTERNS),
            ("-i", b, "-j", "ACCEPT"),
        ]
        if n.masquerade:
            nat_rules.append(("-s", n.subnet, "!", "-o", b, "-j", "MASQUERADE"))
    filtering = any(not n.icc for n in networks)
    return Ruleset(chain, tuple(filter_rules), tuple(nat_rules), filtering)


def restore_text(rules: Ruleset) -> str:
    """The input of `iptables-restore --noflush` that replaces both chains whole."""
    lines: list[str] = []
    for table, body in (("filter", rules.filter), ("nat", rules.nat)):
        lines += [f"*{table}", f":{rules.chain} - [0:0]"]
        lines += [" ".join(("-A", rules.chain, *rule)) for rule in body]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"
