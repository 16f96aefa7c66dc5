"""The `NameService` contract (adapters/dns/protocol.py), for the fake and for the name
server process. What its answers are on the wire is tests/adapters/test_dns_server.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth.adapters.dns.nameserver import NameServer, NameServerFailed
from berth.adapters.dns.protocol import NameService
from berth.domain.errors import InvalidParameter
from berth.domain.network_names import NetworkRecords

from ..adapters.dns_harness import free_port, loopback_records
from ..fakes.dns import FakeNameService
from .conftest import IMPLEMENTATIONS


@pytest.fixture(params=IMPLEMENTATIONS)
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NameService]:
    if request.param == "fake":
        yield FakeNameService()
        return
    real = NameServer(tmp_path / "dns", port=free_port(), upstreams=[])
    try:
        yield real
    finally:
        await real.stop()
        assert not (tmp_path / "dns").exists()


async def test_published_records_are_served_and_listed(service: NameService) -> None:
    records = loopback_records("a" * 64, 2, {"web": ("127.0.2.2",)})
    await service.publish(records)
    await service.publish(records)
    assert service.published() == {records.network_id: records}
    assert service.running_pid() is not None


async def test_a_second_publish_replaces_the_networks_records(service: NameService) -> None:
    await service.publish(loopback_records("a" * 64, 2, {"web": ("127.0.2.2",)}))
    newer = loopback_records("a" * 64, 2, {"db": ("127.0.2.3",)})
    await service.publish(newer)
    assert service.published()["a" * 64].names == newer.names


async def test_withdrawing_the_last_network_stops_the_server(service: NameService) -> None:
    await service.publish(loopback_records("a" * 64, 2, {"web": ("127.0.2.2",)}))
    await service.publish(loopback_records("b" * 64, 3, {"web": ("127.0.3.2",)}))
    await service.withdraw("a" * 64)
    assert list(service.published()) == ["b" * 64]
    assert service.running_pid() is not None
    await service.withdraw("b" * 64)
    await service.withdraw("b" * 64)
    assert service.published() == {}
    assert service.running_pid() is None


@pytest.mark.parametrize(
    "records",
    [
        NetworkRecords("x/../y", ("127.0.2.1",), ("127.0.2.0/24",)),
        NetworkRecords("a" * 64, ("not-an-address",), ("127.0.2.0/24",)),
        NetworkRecords("a" * 64, ("127.0.2.1",), ("127.0.2.0/24",), {"Web": ("127.0.2.2",)}),
        NetworkRecords("a" * 64, ("127.0.2.1",), ("127.0.2.0/24",), {"a..b": ("127.0.2.2",)}),
        NetworkRecords("a" * 64, ("127.0.2.1",), ("127.0.2.0/24",), {"web": ("300.1.1.1",)}),
    ],
)
async def test_bad_records_change_nothing(service: NameService, records: NetworkRecords) -> None:
    with pytest.raises(InvalidParameter):
        await service.publish(records)
    assert service.published() == {}
    assert service.running_pid() is None


async def test_an_address_that_cannot_be_bound_is_a_failure(
    service: NameService, tmp_path: Path
) -> None:
    if isinstance(service, FakeNameService):
        service.taken.add("127.0.4.1")
        holder = None
    else:
        assert isinstance(service, NameServer)
        holder = NameServer(tmp_path / "holder", port=service.port, upstreams=[])
        await holder.publish(loopback_records("c" * 64, 4, {}))
    try:
        with pytest.raises(NameServerFailed, match=r"127\.0\.4\.1"):
            await service.publish(loopback_records("d" * 64, 4, {}))
    finally:
        if holder is not None:
            await holder.stop()
