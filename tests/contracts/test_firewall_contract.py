"""The `Firewall` contract (adapters/network/protocol.py), for the fake and for iptables:
a root's chains written whole, jumped to once, replaced, and removed without a trace."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from berth.adapters.network import Firewall, IptablesFirewall
from berth.domain.errors import InvalidParameter
from berth.domain.firewall_rules import FirewallNetwork, chain_name, ruleset

from ..fakes.network import FakeFirewall
from .conftest import IMPLEMENTATIONS, needs


def iptables_save() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout


def without_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


CHAIN = chain_name("contract-test")  # the chain every real run of this suite uses


@pytest.fixture(params=IMPLEMENTATIONS)
def firewall(request: pytest.FixtureRequest) -> Iterator[Firewall]:
    if request.param == "fake":
        yield FakeFirewall()
        return
    needs(root=True)
    assert [line for line in without_comments(iptables_save()) if CHAIN in line] == []
    yield IptablesFirewall()
    # Nothing of the chain is left after the test (iptables-save before/after).
    assert [line for line in without_comments(iptables_save()) if CHAIN in line] == []


async def test_rules_are_written_whole_jumped_to_once_and_removed(firewall: Firewall) -> None:
    one = FirewallNetwork("br-c0de00000001", "10.250.1.0/24")
    two = FirewallNetwork("br-c0de00000002", "10.250.2.0/24", internal=True)
    for _ in range(2):
        await firewall.apply(ruleset(CHAIN, [one, two]))
    rules = await firewall.rules_of(CHAIN)
    jumps = [r for r in rules if r.endswith(f"-j {CHAIN}")]
    assert sorted(jumps) == [f"filter: -A FORWARD -j {CHAIN}", f"nat: -A POSTROUTING -j {CHAIN}"]
    assert f"nat: -A {CHAIN} -s 10.250.1.0/24 ! -o br-c0de00000001 -j MASQUERADE" in rules
    assert not any("10.250.2.0/24" in r for r in rules)  # internal: no masquerade
    await firewall.apply(ruleset(CHAIN, [one]))
    assert not any("br-c0de00000002" in r for r in await firewall.rules_of(CHAIN))
    for _ in range(2):
        await firewall.remove(CHAIN)
    assert await firewall.rules_of(CHAIN) == []


async def test_a_bad_chain_name_is_refused(firewall: Firewall) -> None:
    with pytest.raises(InvalidParameter):
        await firewall.remove("INPUT")
    with pytest.raises(InvalidParameter):
        await firewall.apply(ruleset("FORWARD", []))
