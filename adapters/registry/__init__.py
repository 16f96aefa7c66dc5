"""berth.adapters.registry: an OCI Distribution client that pulls into a content store.

`RegistryClient.pull(ref, progress)` resolves a reference (tag or digest; an index or
manifest list resolves to its linux/amd64 image), verifies and stores the manifest, the
config and every layer blob, and reports Docker's progress messages on the way. What the
service may rely on is protocol.py's `Registry`.
"""

from berth.adapters.content import DigestMismatch

from .auth import Challenge, parse_www_authenticate
from .client import RegistryClient
from .errors import RegistryError, Unauthorized, UnsupportedManifest
from .manifests import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    LAYER_TYPES,
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    LayerDescriptor,
)
from .progress import human_size, progress_bar, progress_message, short_id
from .protocol import LayerReady, PulledImage, Registry

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "LAYER_TYPES",
    "MAX_CONFIG_SIZE",
    "MAX_MANIFEST_SIZE",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Challenge",
    "DigestMismatch",
    "LayerDescriptor",
    "LayerReady",
    "PulledImage",
    "Registry",
    "RegistryClient",
    "RegistryError",
    "Unauthorized",
    "UnsupportedManifest",
    "human_size",
    "parse_www_authenticate",
    "progress_bar",
    "progress_message",
    "short_id",
]
