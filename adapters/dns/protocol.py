"""What the service may rely on from the name server: `NameService`.

The real one is `nameserver.NameServer` (a process per berth root that outlives the
engine); tests/fakes/dns.py keeps the same promises in memory, and
tests/contracts/test_dns_contract.py holds both to them.
"""

from __future__ import annotations

from typing import Protocol

from berth.domain.network_names import NetworkRecords


class NameService(Protocol):
    """The names of user-defined networks, answered on each network's gateway address.

    The server and what it serves survive the engine: `published` shows, after a crash,
    what a new engine adopts. Records are checked before anything changes: bad ones are
    `InvalidParameter`.
    """

    async def publish(self, records: NetworkRecords) -> None:
        """The server runs and answers with `records` for their network (replacing what
        it had for it) by the time this returns; idempotent. A listen address that cannot
        be bound is `NameServerFailed` (500)."""
        ...

    async def withdraw(self, network_id: str) -> None:
        """The network's names are no longer answered; when no network is left the
        server is stopped and its files are gone. Idempotent."""
        ...

    def published(self) -> dict[str, NetworkRecords]:
        """What the server serves, by network id."""
        ...

    def running_pid(self) -> int | None:
        """The live server's pid, or None."""
        ...

    async def stop(self) -> None:
        """The server is gone and every file of it removed; idempotent."""
        ...
