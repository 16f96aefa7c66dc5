"""Which OCI runtime a container is created with (HostConfig.Runtime, ADR/0040).

The engine knows the names of the runtimes the host can use and its default; a create
asking for another is refused as dockerd refuses it, and one asking for none records the
default, so that the container keeps its runtime whatever the default is later.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class RuntimeNames:
    """The runtimes containers may ask for, and the one they get when they ask none."""

    default: str = "runc"
    names: tuple[str, ...] = ("runc",)

    def resolve(self, requested: str) -> str:
        """The runtime a create asking for `requested` ("" for none) is given."""
        if requested == "":
            return self.default
        if requested not in self.names:
            raise InvalidParameter(f"unknown or invalid runtime name: {requested}")
        return requested
