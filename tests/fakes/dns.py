"""In-memory `NameService`: what a name server would serve, as a dictionary, checked with
the real adapter's rules before anything changes."""

from __future__ import annotations

from berth.adapters.dns.nameserver import NameServerFailed
from berth.domain.network_names import NetworkRecords


class FakeNameService:
    def __init__(self) -> None:
        self.records: dict[str, NetworkRecords] = {}
        self.pid: int | None = None
        self.started = 0
        #: Addresses the "server" cannot bind (as another process holding port 53).
        self.taken: set[str] = set()

    async def publish(self, records: NetworkRecords) -> None:
        records.check()
        self.records[records.network_id] = records
        if self.pid is None:
            self.started += 1
            self.pid = 100000 + self.started
        taken = [address for address in records.listen if address in self.taken]
        if taken:
            raise NameServerFailed(f"name server cannot listen on {taken[0]}:53: in use")

    async def withdraw(self, network_id: str) -> None:
        self.records.pop(network_id, None)
        if not self.records:
            self.pid = None

    def published(self) -> dict[str, NetworkRecords]:
        return dict(self.records)

    def running_pid(self) -> int | None:
        return self.pid

    async def stop(self) -> None:
        self.records.clear()
        self.pid = None

    def lookup(self, listen: str, name: str) -> list[str] | None:
        """What a query for `name` on `listen` would be answered (None: not a name of it)."""
        for records in self.records.values():
            if listen in records.listen:
                found = records.names.get(name.lower())
                return None if found is None else list(found)
        return None
