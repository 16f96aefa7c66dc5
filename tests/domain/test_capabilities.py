"""Capabilities within what berthd holds: the mask decoding and the spec's rules (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import HostConfig
from berth.domain.errors import InvalidParameter
from berth.domain.settings_rules import CAPABILITIES, CAPABILITY_BITS, capabilities_in_mask
from berth.domain.spec import effective_capabilities
from berth.domain.spec.defaults import DEFAULT_CAPABILITIES

WITHOUT_SYS_RESOURCE = 0x1FFFEFFFFFF  # this VM's CapBnd: bit 24 (CAP_SYS_RESOURCE) clear
HELD = CAPABILITIES - {"CAP_SYS_RESOURCE"}


def test_masks_decode_in_the_kernels_bit_order() -> None:
    assert CAPABILITY_BITS[0] == "CAP_CHOWN"
    assert CAPABILITY_BITS[24] == "CAP_SYS_RESOURCE"
    assert CAPABILITY_BITS[40] == "CAP_CHECKPOINT_RESTORE"
    assert capabilities_in_mask(WITHOUT_SYS_RESOURCE) == HELD
    assert capabilities_in_mask(0) == frozenset()
    assert capabilities_in_mask(1 << 21 | 1 << 63) == {"CAP_SYS_ADMIN"}  # unknown bits: ignored


@given(st.sets(st.sampled_from(CAPABILITY_BITS)))
def test_decoding_a_mask_gives_back_its_capabilities(caps: set[str]) -> None:
    mask = sum(1 << CAPABILITY_BITS.index(cap) for cap in caps)
    assert capabilities_in_mask(mask) == caps


@pytest.mark.parametrize(
    "host",
    [HostConfig(privileged=True), HostConfig(cap_add=("ALL",)), HostConfig(cap_add=("all",))],
)
def test_every_capability_means_every_one_berthd_holds(host: HostConfig) -> None:
    assert effective_capabilities(host, HELD) == sorted(HELD)


def test_a_named_capability_berthd_lacks_is_refused_naming_it() -> None:
    for adds in (("SYS_RESOURCE",), ("ALL", "cap_sys_resource"), ("NET_ADMIN", "SYS_RESOURCE")):
        with pytest.raises(InvalidParameter) as refused:
            effective_capabilities(HostConfig(cap_add=adds), HELD)
        expected = "cannot add capability CAP_SYS_RESOURCE: berthd's own bounding set lacks it"
        assert refused.value.message == expected
    # Added and dropped again: nothing is asked of berthd.
    both = HostConfig(cap_add=("SYS_RESOURCE",), cap_drop=("SYS_RESOURCE",))
    assert effective_capabilities(both, HELD) == list(DEFAULT_CAPABILITIES)
    assert "CAP_SYS_RESOURCE" in effective_capabilities(HostConfig(cap_add=("SYS_RESOURCE",)))


def test_a_default_berthd_lacks_is_left_out() -> None:
    held = CAPABILITIES - {"CAP_NET_RAW"}
    assert effective_capabilities(HostConfig(), held) == [
        cap for cap in DEFAULT_CAPABILITIES if cap != "CAP_NET_RAW"
    ]
