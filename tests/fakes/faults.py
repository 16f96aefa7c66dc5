"""Failures a test arranges for a fake's coming calls: by method name, or a full disk."""

from __future__ import annotations

from berth.domain.errors import DiskFull


class Faults:
    """`inject("attach", NetworkSetupFailed(...))`: the next call of the fake's `attach`
    raises it before it changes anything (`times` calls in a row). `disk_full`: every
    write of the fake fails with `DiskFull` naming what it would have written, and
    leaves nothing, until it is set back to False."""

    def __init__(self) -> None:
        self._planned: dict[str, list[BaseException]] = {}
        self.disk_full = False

    def inject(self, method: str, error: BaseException, times: int = 1) -> None:
        self._planned.setdefault(method, []).extend([error] * times)

    def check(self, method: str) -> None:
        """Raise the next error planned for `method`, if there is one."""
        planned = self._planned.get(method)
        if planned:
            raise planned.pop(0)

    def pending(self) -> dict[str, int]:
        """What was planned and not raised yet (a test may assert it is empty)."""
        return {method: len(errors) for method, errors in self._planned.items() if errors}

    def check_space(self, path: object) -> None:
        """Before a write of `path`: `DiskFull` while the disk is full."""
        if self.disk_full:
            raise DiskFull(path)
