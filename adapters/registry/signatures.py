"""cosign's signatures of an image, as the registry keeps them beside it.

cosign (and skopeo's sigstore attachments) store an image's signatures as another image
of the same repository, tagged `sha256-<hex>.sig` after the signed manifest's digest:
each layer is a simple-signing payload (`application/vnd.dev.cosign.simplesigning.v1+json`)
and its descriptor's `dev.cosignproject.cosign/signature` annotation holds the signature
of those bytes, base64. What is read is bounded and digest-checked; whether a signature is
any good is the caller's to decide.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from berth.domain.reference import ImageReference

from .errors import RegistryError
from .manifests import DOCKER_MANIFEST, OCI_MANIFEST
from .transport import Transport

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
MAX_SIGNATURE_MANIFEST = 1024 * 1024
MAX_PAYLOAD = 64 * 1024
MAX_SIGNATURES = 32
MAX_KNOWN_PAYLOADS = 1024


@dataclass(frozen=True)
class Signature:
    """A payload and the signature of its bytes (decoded); unverified."""

    payload: bytes
    signature: bytes


def signature_tag(digest: str) -> str:
    """`sha256:abc…` → `sha256-abc….sig`, cosign's tag for that manifest's signatures."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.sig"


async def fetch_signatures(
    transport: Transport,
    ref: ImageReference,
    digest: str,
    payloads: dict[str, bytes] | None = None,
) -> list[Signature]:
    """The signatures stored for the manifest `digest` in `ref`'s repository; [] if none.
    `payloads`: payloads already read, by digest (content-addressed, so never stale);
    the signature manifest itself is always read again, as signatures come and go."""
    known = {} if payloads is None else payloads
    repo = transport.repo(ref)
    await transport.ping(repo)
    accept = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
    response = await transport.get(repo, repo.url(f"manifests/{signature_tag(digest)}"), accept)
    try:
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            await transport.fail(response, repo, manifest=True)
        body = await transport.read_body(response, MAX_SIGNATURE_MANIFEST, "signature manifest")
    finally:
        await response.aclose()
    found = []
    for layer in _signature_layers(body)[:MAX_SIGNATURES]:
        payload = known.get(str(layer["digest"]))
        if payload is None or len(payload) != layer["size"]:
            payload = await _fetch_payload(transport, ref, layer)
            if len(known) >= MAX_KNOWN_PAYLOADS:
                known.clear()
            known[str(layer["digest"])] = payload
        try:
            signature = base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION], validate=True)
        except (binascii.Error, ValueError):
            continue  # not a signature at all: as good as none
        found.append(Signature(payload, signature))
    return found


def _signature_layers(body: bytes) -> list[dict[str, Any]]:
    try:
        doc = json.loads(body)
        layers = doc["layers"]
    except (ValueError, KeyError, TypeError):
        raise RegistryError("invalid signature manifest") from None
    if not isinstance(layers, list):
        raise RegistryError("invalid signature manifest")
    return [
        layer
        for layer in layers
        if isinstance(layer, dict)
        and layer.get("mediaType") == SIMPLE_SIGNING
        and isinstance(layer.get("digest"), str)
        and isinstance(layer.get("size"), int)
        and isinstance(layer.get("annotations"), dict)
        and isinstance(layer["annotations"].get(SIGNATURE_ANNOTATION), str)
    ]


async def _fetch_payload(transport: Transport, ref: ImageReference, layer: dict[str, Any]) -> bytes:
    repo = transport.repo(ref)
    digest, size = str(layer["digest"]), int(layer["size"])
    if size > MAX_PAYLOAD:
        raise RegistryError(f"signature payload {digest} is larger than {MAX_PAYLOAD} bytes")
    response = await transport.get(repo, repo.url(f"blobs/{digest}"))
    try:
        if response.status_code != 200:
            await transport.fail(response, repo, digest=digest)
        payload = await transport.read_body(response, MAX_PAYLOAD, "signature payload")
    finally:
        await response.aclose()
    if "sha256:" + hashlib.sha256(payload).hexdigest() != digest or len(payload) != size:
        raise RegistryError(f"signature payload {digest} does not match its digest")
    return payload


def signature_image(signatures: list[Signature]) -> tuple[bytes, bytes]:
    """The manifest and config of a signature image holding `signatures`, as cosign
    writes it (one simple-signing layer per signature); the layers are the payloads."""
    diff_ids = ["sha256:" + hashlib.sha256(s.payload).hexdigest() for s in signatures]
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        },
        separators=(",", ":"),
    ).encode()
    layers = [
        {
            "mediaType": SIMPLE_SIGNING,
            "size": len(s.payload),
            "digest": digest,
            "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(s.signature).decode()},
        }
        for s, digest in zip(signatures, diff_ids, strict=True)
    ]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
        },
        "layers": layers,
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), config
