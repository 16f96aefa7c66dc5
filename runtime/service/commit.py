"""`docker commit`: a new image whose top layer is what the container changed.

Every argument is checked before anything happens (the `--change` instructions, the
repository and tag), so a bad one is a 400 with nothing recorded. A running container
is paused while its layer is read (unless `pause=0`), with the pause and unpause
recorded as `docker pause` would. The layer is the overlay upper directory written as a
tar with OCI whiteouts (adapters/snapshots/tree_tar.py) in the snapshot store's unpack
area, then stored and unpacked through the image service as a loaded layer would be, and
the image recorded as an Image event of source "commit" (ADR/0030).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from berth.adapters.snapshots.tree_tar import write_tree
from berth.domain.cause import Actor
from berth.domain.commit import check_changes, child_image, committed_config
from berth.domain.container import ContainerState
from berth.domain.errors import Conflict, InvalidParameter
from berth.domain.image import is_tag_reference
from berth.domain.reference import parse_reference

from .container_files import ContainerFiles
from .runner import Runner

DOCKER_VERSION = "20.10.24"
CHUNK = 1 << 20


def commit_reference(repo: str, tag: str) -> str | None:
    """The reference the new image is tagged with (`tag` defaults to latest), or None."""
    if not repo:
        if tag:
            raise InvalidParameter("tag without a repository")
        return None
    reference = str(parse_reference(f"{repo}:{tag}" if tag else repo))
    if not is_tag_reference(reference):
        raise InvalidParameter("refusing to create a tag with a digest reference")
    return reference


def _write_layer(upper: Path, target: Path) -> str | None:
    """The upper directory as a layer tar at `target`; its diff id, None when empty."""
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not os.listdir(fd):
            return None
        with open(target, "xb") as out:
            write_tree(out, fd, overlay_whiteouts=True)
    finally:
        os.close(fd)
    digest = hashlib.sha256()
    with open(target, "rb") as written:
        while chunk := written.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class Committer:
    def __init__(self, runner: Runner, files: ContainerFiles) -> None:
        self.runner = runner
        self.files = files

    @contextlib.asynccontextmanager
    async def _paused(self, ref: str, pause: bool, actor: Actor) -> AsyncIterator[None]:
        container_id = await self.runner.actions.sync(self.runner.engine.resolve_container, ref)
        container = await self.runner.actions.load(container_id)
        paused = False
        if pause and container.state is ContainerState.RUNNING:
            try:
                await self.runner.pause(container_id, actor)
                paused = True
            except Conflict:
                pass  # it stopped since it was read: dockerd ignores a failed pause
        try:
            yield
        finally:
            if paused:
                # dockerd ignores a failed unpause too: one that exited as it was frozen
                # is no longer paused.
                with trio.CancelScope(shield=True), contextlib.suppress(Conflict):
                    await self.runner.unpause(container_id, actor)

    async def commit(
        self,
        ref: str,
        *,
        actor: Actor,
        repo: str = "",
        tag: str = "",
        author: str = "",
        comment: str = "",
        pause: bool = True,
        changes: list[str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> str:
        """Answers the new image's id."""
        changes = changes or []
        check_changes(changes)
        reference = commit_reference(repo, tag)
        # In the snapshot store's unpack area, which reconcile empties: a commit cut short
        # by a crash leaves nothing behind.
        spool = self.runner.images.snapshots.new_unpack_dir()
        spool.mkdir(mode=0o700)
        layer = spool / "layer.tar"
        try:
            async with self._paused(ref, pause, actor), self.files.rootfs(ref) as (container, _):
                config = committed_config(container.config, body, changes)
                upper, _lowers = self.files.layer_dirs(container)
                diff_id = await trio.to_thread.run_sync(_write_layer, upper, layer)
            image = self.runner.images.engine.images.aggregate(container.image_id)
            if image is None:
                raise InvalidParameter(f"No such image: {container.image_id}")
            created = self.runner.engine.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            image_config = child_image(
                image.config,
                parent_id=container.image_id,
                config=config,
                container_config=container.config,
                container_id=container.id,
                diff_id=diff_id,
                created=created,
                author=author,
                comment=comment,
                docker_version=DOCKER_VERSION,
            )
            tags = [reference] if reference else []
            return await self.runner.images.record_commit(
                container.image_id, image_config, layer if diff_id else None, tags, actor
            )
        finally:
            shutil.rmtree(spool, ignore_errors=True)
