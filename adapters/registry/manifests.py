"""Manifest documents: media types, defensive parsing, platform selection.

Pure functions over bytes already read (through a size limit) from the registry. What
is refused, and why (see shared/reference/security-reliability.md §2):

- schema 1 manifests (by Content-Type, `mediaType` or `schemaVersion: 1`);
- a document with both `manifests` and `config`/`layers` (CVE-2021-41190: it could be
  read as either an index or a manifest);
- a `mediaType` field that differs from the response's Content-Type (a generic one such
  as `application/json` names no manifest type and is not compared);
- descriptors with a malformed digest or size; digests other than sha256 (the content
  store only holds sha256);
- anything that is not JSON of the expected shape: the parser never asserts.

Descriptor `urls` (foreign layers) are ignored: every blob comes from the registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from berth.adapters.content import DIGEST_PATTERN
from berth.domain.errors import NotFound

from .errors import UnsupportedManifest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1_TYPES = frozenset({SCHEMA1, SCHEMA1_SIGNED})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
# What the client asks for; schema 1 is deliberately absent.
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
# containerd's MaxManifestSize is 4·1048·1048; berth uses a plain 4 MiB.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 16 * 1024 * 1024
# Content-Types that say nothing about which manifest this is.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None


@dataclass(frozen=True)
class LayerDescriptor:
    """One layer blob of a pulled image, as the manifest describes it."""

    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: list[Descriptor] = field(default_factory=list)


@dataclass(frozen=True)
class ImageIndex:
    media_type: str
    manifests: list[Descriptor] = field(default_factory=list)


def schema1_message(familiar: str) -> str:
    return (
        "Docker Image manifest version 2, schema 1 is not supported: suggest the author "
        f"of {familiar} to upgrade the image to the OCI Format or Docker Image manifest "
        "v2, schema 2"
    )


class Schema1Refused(UnsupportedManifest):
    """A schema 1 manifest; the client rewrites the message with the reference."""


def bare_media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_document(body: bytes, content_type: str | None) -> ImageManifest | ImageIndex:
    """Parse a manifest or index served with `content_type`; refuse what is unsafe."""
    served = bare_media_type(content_type)
    if served in SCHEMA1_TYPES:
        raise Schema1Refused(schema1_message("this image"))
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise UnsupportedManifest("invalid manifest: not a JSON document") from None
    if not isinstance(doc, dict):
        raise UnsupportedManifest("invalid manifest: not a JSON object")
    if doc.get("schemaVersion") == 1:
        raise Schema1Refused(schema1_message("this image"))
    if doc.get("schemaVersion") != 2:
        raise UnsupportedManifest(
            f"unsupported manifest schemaVersion {_show(doc.get('schemaVersion'))}"
        )
    if "manifests" in doc and ("layers" in doc or "config" in doc):
        raise UnsupportedManifest(
            "refusing ambiguous manifest: it has both manifests and layers/config"
        )
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise UnsupportedManifest("invalid manifest: mediaType is not a string")
    if declared is not None and served not in _GENERIC_TYPES and declared != served:
        raise UnsupportedManifest(
            f"manifest media type mismatch: mediaType {_show(declared)} "
            f"but Content-Type {_show(served)}"
        )
    media_type = declared or (served if served not in _GENERIC_TYPES else "")
    if not media_type:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type in SCHEMA1_TYPES:
        raise Schema1Refused(schema1_message("this image"))
    if media_type in INDEX_TYPES:
        return _parse_index(doc, media_type)
    if media_type in MANIFEST_TYPES:
        return _parse_manifest(doc, media_type)
    raise UnsupportedManifest(f"unsupported manifest media type {_show(media_type)}")


def select_platform(
    index: ImageIndex, os: str = "linux", architecture: str = "amd64"
) -> Descriptor:
    """The first image manifest for os/architecture (any variant), as dockerd picks."""
    for entry in index.manifests:
        platform = entry.platform or {}
        if (
            entry.media_type in MANIFEST_TYPES
            and platform.get("os") == os
            and platform.get("architecture") == architecture
        ):
            return entry
    raise NotFound(f"no matching manifest for {os}/{architecture} in the manifest list entries")


def _parse_index(doc: dict[str, Any], media_type: str) -> ImageIndex:
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise UnsupportedManifest("invalid manifest list: manifests is not a list")
    return ImageIndex(media_type, [_descriptor(e, "manifest list entry") for e in entries])


def _parse_manifest(doc: dict[str, Any], media_type: str) -> ImageManifest:
    config = _descriptor(doc.get("config"), "config")
    if config.media_type not in CONFIG_TYPES:
        raise UnsupportedManifest(f"unsupported image config media type {_show(config.media_type)}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise UnsupportedManifest("invalid manifest: layers is not a list")
    parsed = [_descriptor(layer, "layer") for layer in layers]
    for layer in parsed:
        if layer.media_type not in LAYER_TYPES:
            raise UnsupportedManifest(f"unsupported layer media type {_show(layer.media_type)}")
    return ImageManifest(media_type, config, parsed)


def _descriptor(value: object, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise UnsupportedManifest(f"invalid manifest: {what} is not an object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str):
        raise UnsupportedManifest(f"invalid manifest: {what} has no mediaType")
    if not isinstance(digest, str) or not DIGEST_PATTERN.fullmatch(digest):
        raise UnsupportedManifest(
            f"invalid manifest: {what} digest {_show(digest)} is not sha256:<64 hex>"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise UnsupportedManifest(f"invalid manifest: {what} size {_show(size)} is invalid")
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise UnsupportedManifest(f"invalid manifest: {what} platform is not an object")
    return Descriptor(media_type, digest, size, platform)


def _show(value: object) -> str:
    """A short, printable rendering of an untrusted value for error messages."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."
