"""`docker save`: images as a docker-archive, the format `docker load` reads (dockerd's and
berth's): `manifest.json`, `repositories`, `<config hex>.json` and one `<id>/layer.tar`
per layer, uncompressed (a compressed blob is inflated on the way, its diff id checked).

The archive is written to a file under the root's `tmp/` first and streamed from there:
a tar member's header needs its size before its bytes, and a compressed layer's
uncompressed size is only known once inflated.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import trio

from berth.adapters.content import Blobs
from berth.adapters.snapshots.decompress import decompressed
from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.image import is_image_id
from berth.domain.reference import parse_reference

from .images import ImageService

READ_CHUNK = 1 << 20
Write = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class Saved:
    """One image of the archive: its id, its layers (digest, diff id), its tags."""

    image_id: str
    layers: list[tuple[str, str]]
    tags: list[str]


class ImageSave:
    def __init__(self, images: ImageService) -> None:
        self.images = images

    def select(self, names: list[str]) -> list[Saved]:
        """What `names` (references or ids) name; 404 for one that names nothing."""
        records = self.images.engine.images
        chosen: dict[str, Saved] = {}
        for name in names:
            image_id = records.resolve(name)
            image = records.aggregate(image_id)
            if image is None:
                raise NotFound(f"No such image: {name}")
            by_id = is_image_id(name) or image_id.removeprefix("sha256:").startswith(
                name.removeprefix("sha256:")
            )
            tags = [] if by_id else [parse_reference(name).familiar]
            layers = [(str(la["digest"]), str(la["diff_id"])) for la in image.layers]
            earlier = chosen.get(image_id)
            if earlier is not None:
                tags = earlier.tags + [t for t in tags if t not in earlier.tags]
            chosen[image_id] = Saved(image_id, layers, tags)
        return list(chosen.values())

    async def stream(self, names: list[str], write: Write) -> None:
        if not names:
            raise InvalidParameter("no image names given")
        selected = await trio.to_thread.run_sync(self.select, names)
        spool = self.images.engine.root / "tmp"
        spool.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=spool, prefix="save-") as directory:
            archive = Path(directory) / "archive.tar"
            content = self.images.content
            await trio.to_thread.run_sync(write_archive, selected, content, archive)
            with archive.open("rb") as data:
                while chunk := await trio.to_thread.run_sync(data.read, READ_CHUNK):
                    await write(chunk)


def write_archive(images: list[Saved], content: Blobs, path: Path) -> None:
    """The docker-archive of `images` at `path` (blocking: a worker thread's)."""
    manifest: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for image in images:
            config_name = image.image_id.removeprefix("sha256:") + ".json"
            with content.open(image.image_id) as config:
                _add(tar, config_name, config)
            names = []
            for digest, diff_id in image.layers:
                layer_id = diff_id.removeprefix("sha256:")
                names.append(f"{layer_id}/layer.tar")
                if layer_id in written:
                    continue
                written.add(layer_id)
                _add(tar, f"{layer_id}/VERSION", io.BytesIO(b"1.0"))
                _add_layer(tar, f"{layer_id}/layer.tar", content, digest, diff_id, path.parent)
            manifest.append(
                {"Config": config_name, "RepoTags": image.tags or None, "Layers": names}
            )
            for tag in image.tags:
                repository, _, name = tag.rpartition(":")
                top = names[-1].split("/")[0] if names else ""
                repositories.setdefault(repository, {})[name] = top
        _add(tar, "manifest.json", io.BytesIO(json.dumps(manifest).encode()))
        if repositories:
            _add(tar, "repositories", io.BytesIO(json.dumps(repositories).encode()))


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes]) -> None:
    data.seek(0, io.SEEK_END)
    info = tarfile.TarInfo(name)
    info.size = data.tell()
    info.mode = 0o644
    data.seek(0)
    tar.addfile(info, data)


def _add_layer(
    tar: tarfile.TarFile, name: str, content: Blobs, digest: str, diff_id: str, scratch: Path
) -> None:
    """The layer uncompressed; its bytes must hash to the diff id the config promises."""
    with content.open(digest) as blob:
        if digest == diff_id:
            _add(tar, name, blob)
            return
        with tempfile.TemporaryFile(dir=scratch) as inflated:
            hasher = hashlib.sha256()
            for chunk in decompressed(blob):
                hasher.update(chunk)
                inflated.write(chunk)
            if "sha256:" + hasher.hexdigest() != diff_id:
                raise InvalidParameter(f"layer {digest} does not match its diff id {diff_id}")
            _add(tar, name, inflated)
