"""The host's packet filter, through `iptables` (the nf_tables backend on Debian 12; see
ADR/0038 for why not `nft`): one root's chains written whole, jumped to, and removed.

Each call is idempotent and checks its names before running anything. Forwarding is
switched on (`net.ipv4.ip_forward=1`) when rules are first written, as dockerd does; it
is never switched off (other engines on the host may rely on it).
"""

from __future__ import annotations

import re
from pathlib import Path

import trio

from berth.domain.errors import BerthError, InvalidParameter
from berth.domain.firewall_rules import Ruleset, restore_text

_CHAIN = re.compile(r"BERTH-[0-9A-F]{8}")
#: Where each table's chain is jumped to from.
HOOKS = {"filter": "FORWARD", "nat": "POSTROUTING"}
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


class FirewallFailed(BerthError):
    http_status = 500


def check_chain(chain: str) -> None:
    if not _CHAIN.fullmatch(chain):
        raise InvalidParameter(f"invalid chain name {chain!r}: BERTH- and 8 hex digits")


async def _run(command: list[str], stdin: bytes | None = None, check: bool = True) -> bool:
    done = await trio.run_process(
        command, stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
    )
    if check and done.returncode != 0:
        raise FirewallFailed(f"{' '.join(command)}: {done.stderr.decode().strip()}")
    return done.returncode == 0


async def _iptables(*args: str, check: bool = True) -> bool:
    return await _run(["iptables", "-w", *args], check=check)


class IptablesFirewall:
    async def apply(self, rules: Ruleset) -> None:
        """The root's chains hold exactly `rules`, and are jumped to first."""
        check_chain(rules.chain)
        await trio.to_thread.run_sync(_enable_forwarding)
        if rules.bridge_filtering:
            await trio.to_thread.run_sync(_enable_bridge_filtering)
        await _run(["iptables-restore", "-w", "--noflush"], stdin=restore_text(rules).encode())
        for table, hook in HOOKS.items():
            if not await _iptables("-t", table, "-C", hook, "-j", rules.chain, check=False):
                await _iptables("-t", table, "-I", hook, "1", "-j", rules.chain)

    async def remove(self, chain: str) -> None:
        """No jump to the root's chains and no chains left; idempotent."""
        check_chain(chain)
        for table, hook in HOOKS.items():
            while await _iptables("-t", table, "-D", hook, "-j", chain, check=False):
                pass
            if await _iptables("-t", table, "-F", chain, check=False):
                await _iptables("-t", table, "-X", chain)

    async def rules_of(self, chain: str) -> list[str]:
        """Every rule that names the root's chain, in both tables (`iptables -S` lines)."""
        check_chain(chain)
        found: list[str] = []
        for table in HOOKS:
            done = await trio.run_process(
                ["iptables", "-w", "-t", table, "-S"], capture_stdout=True, check=True
            )
            found += [f"{table}: {line}" for line in done.stdout.decode().splitlines()
                      if chain in line]  # fmt: skip
        return found


def _enable_bridge_filtering() -> None:
    """Bridged traffic through iptables, so that a network's DROP of its own bridge's
    traffic holds (dockerd sets it for a network without ICC; never unset)."""
    try:
        if BRIDGE_NF.read_text().strip() != "1":
            BRIDGE_NF.write_text("1\n")
    except FileNotFoundError:
        raise FirewallFailed(
            "com.docker.network.bridge.enable_icc=false needs the kernel's br_netfilter "
            f"module: {BRIDGE_NF} is missing"
        ) from None


def _enable_forwarding() -> None:
    if IP_FORWARD.read_text().strip() != "1":
        IP_FORWARD.write_text("1\n")
