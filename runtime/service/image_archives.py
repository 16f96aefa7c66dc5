"""Image archives and root filesystem tarballs read into the content store (worker
threads): `docker save` archives, OCI layouts, and files streamed in with their digest."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import trio

from berth.adapters.content import Blobs
from berth.domain.errors import InvalidParameter
from berth.domain.reference import parse_reference

MAX_JSON = 16 * 1024 * 1024
READ_CHUNK = 1024 * 1024
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Layer:
    """A layer blob in the content store and the diff id the image config promises."""

    digest: str
    size: int
    media_type: str
    diff_id: str

    def record(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "diff_id": self.diff_id,
            "size": self.size,
            "media_type": self.media_type,
        }


def _read_member(tar: tarfile.TarFile, name: str, limit: int) -> bytes:
    member = _open_member(tar, name)
    data = member.read(limit + 1)
    if len(data) > limit:
        raise InvalidParameter(f"{name} in the archive is larger than {limit} bytes")
    return data


def _open_member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        member = tar.extractfile(name.lstrip("/"))
    except KeyError:
        member = None
    if member is None:
        raise InvalidParameter(f"invalid archive: {name} not found or not a regular file")
    return member


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(READ_CHUNK):
        yield chunk


def _digest_of(stream: IO[bytes]) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    for chunk in _chunks(stream):
        hasher.update(chunk)
        size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def _ingest_stream(content: Blobs, open_stream: Callable[[], IO[bytes]]) -> tuple[str, int]:
    """Store a stream whose digest is not known in advance: hash it, then ingest it."""
    digest, size = _digest_of(open_stream())
    if not content.has(digest):
        trio.from_thread.run(content.ingest, digest, size, _async_chunks(open_stream()))
    return digest, size


async def _async_chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    for chunk in _chunks(stream):
        yield chunk


def store_file(path: Path, content: Blobs) -> tuple[str, int]:
    def open_stream() -> IO[bytes]:
        return open(path, "rb")

    return _ingest_stream(content, open_stream)


def read_archive(archive: Path, content: Blobs) -> list[tuple[bytes, list[Layer], list[str]]]:
    """Each image of a `docker save` or OCI layout archive: config bytes, layers, tags.

    The archive is the client's: JSON of another shape than the formats' (a list where an
    object belongs, nesting deeper than the parser goes) is its 400, not berthd's 500.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            names = set(tar.getnames())
            if "manifest.json" in names:
                return _read_docker_save(tar, content)
            if "index.json" in names:
                return _read_oci_layout(tar, content)
    except (AttributeError, TypeError, KeyError, IndexError, RecursionError) as error:
        raise InvalidParameter(f"invalid archive: {type(error).__name__}: {error}") from None
    raise InvalidParameter("invalid archive: no manifest.json or index.json")


def _load_layer(tar: tarfile.TarFile, name: str, diff_id: str, media: str, content: Blobs) -> Layer:
    digest, size = _ingest_stream(content, lambda: _open_member(tar, name))
    return Layer(digest, size, media, diff_id)


def _read_docker_save(
    tar: tarfile.TarFile, content: Blobs
) -> list[tuple[bytes, list[Layer], list[str]]]:
    manifest = json.loads(_read_member(tar, "manifest.json", MAX_JSON))
    if not isinstance(manifest, list):
        raise InvalidParameter("invalid archive: manifest.json is not a list")
    images = []
    for entry in manifest:
        config_bytes = _read_member(tar, str(entry["Config"]), MAX_JSON)
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
        if len(diff_ids) != len(entry["Layers"]):
            raise InvalidParameter("invalid archive: layer count differs from the config's")
        layers = [
            _load_layer(tar, str(name), str(diff_id), LAYER_TAR, content)
            for name, diff_id in zip(entry["Layers"], diff_ids, strict=True)
        ]
        tags = [str(parse_reference(t)) for t in entry.get("RepoTags") or []]
        images.append((config_bytes, layers, tags))
    return images


def _blob_name(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or len(hex_part) != 64:
        raise InvalidParameter(f"invalid digest {digest!r} in the archive")
    return f"blobs/sha256/{hex_part}"


def _read_oci_layout(
    tar: tarfile.TarFile, content: Blobs
) -> list[tuple[bytes, list[Layer], list[str]]]:
    index = json.loads(_read_member(tar, "index.json", MAX_JSON))
    images = []
    for descriptor in index.get("manifests") or []:
        annotations = descriptor.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or annotations.get(
            "org.opencontainers.image.ref.name"
        )
        manifest = json.loads(_read_member(tar, _blob_name(descriptor["digest"]), MAX_JSON))
        if "manifests" in manifest:
            raise InvalidParameter("loading an image index from an OCI archive is not supported")
        config_bytes = _read_member(tar, _blob_name(manifest["config"]["digest"]), MAX_JSON)
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
        layers = []
        for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            loaded = _load_layer(
                tar, _blob_name(layer["digest"]), str(diff_id), layer["mediaType"], content
            )
            if loaded.digest != layer["digest"]:
                raise InvalidParameter(f"invalid archive: blob {layer['digest']} does not match")
            layers.append(loaded)
        # A bare tag ("latest") names no repository: the image loads untagged, as Docker's.
        full = isinstance(name, str) and (":" in name or "/" in name)
        tags = [str(parse_reference(str(name)))] if full else []
        images.append((config_bytes, layers, tags))
    return images
