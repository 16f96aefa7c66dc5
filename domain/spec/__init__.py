"""The OCI runtime spec (`config.json`) for one container, built from its merged config."""

from __future__ import annotations

from .builder import HostFacts, build_spec, effective_capabilities
from .seccomp import load_default_profile, to_oci
from .users import ResolvedUser, resolve_user

__all__ = [
    "HostFacts",
    "ResolvedUser",
    "build_spec",
    "effective_capabilities",
    "load_default_profile",
    "resolve_user",
    "to_oci",
]
