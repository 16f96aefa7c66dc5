"""`docker update`'s plan (domain/container_update.py): what changes, dockerd's refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.container_update import UPDATED, plan_update
from berth.domain.errors import InvalidParameter

CID = "c" * 64
MIB = 1 << 20


def test_only_the_fields_given_change() -> None:
    body = {"Memory": 64 * MIB, "MemorySwap": 0, "CpuShares": 0, "PidsLimit": None}
    assert plan_update(CID, {}, body) == ({"Memory": 64 * MIB}, [])
    assert plan_update(CID, {}, {"PidsLimit": -1})[0] == {"PidsLimit": -1}
    policy = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert plan_update(CID, {}, {"RestartPolicy": policy})[0] == {"RestartPolicy": policy}


@pytest.mark.parametrize(
    ("current", "body", "message"),
    [
        ({"AutoRemove": True}, {"RestartPolicy": {"Name": "always"}},
         f"Cannot update container {CID}: Restart policy cannot be updated because AutoRemove "
         "is enabled for the container"),
        ({"CpuPeriod": 50000}, {"NanoCpus": 10**9},
         f"Cannot update container {CID}: Conflicting options: Nano CPUs cannot be updated "
         "as CPU Period has already been set"),
        ({"NanoCpus": 10**9}, {"CpuQuota": 50000},
         f"Cannot update container {CID}: Conflicting options: CPU Quota cannot be updated "
         "as NanoCPUs has already been set"),
        ({"Memory": 64 * MIB, "MemorySwap": 128 * MIB}, {"Memory": 256 * MIB},
         f"Cannot update container {CID}: Memory limit should be smaller than already set "
         "memoryswap limit, update the memoryswap at the same time"),
        ({}, {"Memory": MIB}, "Minimum memory limit allowed is 6MB"),
        ({}, {"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({}, {"RestartPolicy": {"Name": "sometimes"}},
         "invalid restart policy: unknown policy 'sometimes'"),
        ({}, {"OomKillDisable": True},
         "OomKillDisable (--oom-kill-disable) is not supported by berth yet"),
        ({}, [], "invalid update: expected a JSON object"),
    ],
)  # fmt: skip
def test_dockerds_refusals(current: dict[str, object], body: object, message: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        plan_update(CID, current, body)
    assert raised.value.message.startswith(message), raised.value.message


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "CpuShares": st.integers(0, 1 << 20),
            "Memory": st.sampled_from([0, 6 * MIB, 64 * MIB]),
            "MemoryReservation": st.sampled_from([0, 6 * MIB]),
            "CpusetCpus": st.sampled_from(["", "0", "0-1"]),
            "PidsLimit": st.one_of(st.none(), st.integers(-1, 1000)),
            "Unknown": st.integers(),
        },
    )
)
def test_a_valid_update_changes_exactly_its_non_zero_fields(body: dict[str, object]) -> None:
    if 0 < int(str(body.get("Memory") or 0)) < int(str(body.get("MemoryReservation") or 0)):
        return  # dockerd refuses a limit below the reservation
    changes, _ = plan_update(CID, {}, body)
    # PidsLimit is a pointer in Go: any number given replaces it, 0 (unlimited) too.
    expected = {
        k: v
        for k, v in body.items()
        if k in UPDATED and (v is not None if k == "PidsLimit" else v not in (0, ""))
    }
    assert changes == expected
