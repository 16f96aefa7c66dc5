"""Which OCI runtime a container is created with (HostConfig.Runtime, ADR/0040).

The engine knows the names of the runtimes the host can use and its default; a create
asking for another is refused as dockerd refuses it, and one asking for none records the
default, so that the container keeps its runtime whatever the default is later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def asked_runtime(create_body: Mapping[str, Any], host_config_runtime: str) -> str:
    """The runtime a create asks for: HostConfig.Runtime, else the body's top-level "Runtime".

    docker-py's `create_container(runtime=...)` (and `containers.run`) puts the name beside
    Image rather than in HostConfig; dockerd's decoder drops it, and its default being runc
    hides that. berthd's default may be crun (ADR/0053), so the name is taken where docker-py
    puts it (ADR/0055). Anything but a string there is ignored, as dockerd ignores the key.
    """
    if host_config_runtime:
        return host_config_runtime
    top_level = create_body.get("Runtime")
    return top_level if isinstance(top_level, str) else ""
