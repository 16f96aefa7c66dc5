"""`berth cp|export|diff|commit`: files in and out of containers, each one body, a client
of the engine's API (`/containers/{id}/archive|export|changes`, `/commit`).

`cp` works as the docker CLI's: a container path is `CONTAINER:PATH`; a directory is
copied as a whole (`dir/.` copies what it holds); a destination that does not exist is
the copy's new name. What comes out of a container is extracted on the host through the
same policy as image layers (adapters/snapshots/extract.py): the container's files cannot
lead a copy out of the destination. Owners are kept with `-a` only, as docker's.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import click

from .client.http import DaemonClient, DaemonError, Response, segment
from .images import split_reference
from .session import connect, daemon_errors

TAR_HEADERS = {"Content-Type": "application/x-tar"}
CHUNK = 1 << 20
KINDS = {0: "C", 1: "A", 2: "D"}
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27


def split_cp_arg(arg: str) -> tuple[str | None, str]:
    """(container, path) of `CONTAINER:PATH`, (None, path) of a local path (docker's
    splitCpArg: an absolute path, or one whose part before `:` holds a `/`, is local)."""
    if arg.startswith("/") or ":" not in arg:
        return None, arg
    container, _, path = arg.partition(":")
    if "/" in container or not container:
        return None, arg
    return container, path


def _stat(client: DaemonClient, container: str, path: str) -> dict[str, Any] | None:
    try:
        response = client.request(
            "HEAD", f"/containers/{segment(container)}/archive", {"path": path}
        )
    except DaemonError as error:
        if error.status == 404:
            return None
        raise
    header = response.headers.get("x-docker-container-path-stat", "")
    found: dict[str, Any] = json.loads(base64.b64decode(header)) if header else {}
    return found


def _spool(pieces: Any, into: IO[bytes]) -> None:
    for piece in pieces:
        into.write(piece)
    into.flush()
    into.seek(0)


def _extract_local(archive: IO[bytes], directory: Path, keep_owners: bool) -> None:
    from berth.adapters.snapshots.extract import extract_archive

    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        owner = None if keep_owners else (os.getuid(), os.getgid())
        extract_archive(cast(BinaryIO, archive), fd, owner=owner)
    finally:
        os.close(fd)


def copy_from(
    client: DaemonClient, container: str, path: str, dest: str, archive_mode: bool, follow: bool
) -> None:
    found = _stat(client, container, path)
    if found is None:
        raise click.ClickException(f"Could not find the file {path} in container {container}")
    if follow and found.get("mode", 0) & GO_SYMLINK and found.get("linkTarget"):
        path = str(found["linkTarget"])
    response = client.request("GET", f"/containers/{segment(container)}/archive", {"path": path})
    if dest == "-":
        for piece in response.pieces():
            sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
        return
    target = Path(dest)
    into_existing = target.is_dir()
    if not into_existing and dest.endswith("/") and not target.exists():
        raise click.ClickException(f"destination directory {dest} does not exist")
    parent = target if into_existing else target.resolve().parent
    with tempfile.TemporaryFile() as spooled:
        _spool(response.pieces(), spooled)
        if into_existing:
            _extract_local(spooled, target, archive_mode)
            return
        # Extracted beside the destination, then given its name (docker's rebase).
        staging = Path(tempfile.mkdtemp(prefix=".berth-cp-", dir=parent))
        try:
            _extract_local(spooled, staging, archive_mode)
            if path.endswith("/."):  # what the directory holds, into a new one
                target.mkdir()
                for child in staging.iterdir():
                    os.replace(child, target / child.name)
            else:
                (top,) = staging.iterdir()
                os.replace(top, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _local_tar(source: Path, name: str, into: IO[bytes]) -> None:
    from berth.adapters.snapshots.tree_tar import TreeTar

    fd = os.open(source.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not os.path.lexists(source):
            raise click.ClickException(f"no such file or directory: {source}")
        with TreeTar(cast(BinaryIO, into)) as tree:
            tree.add(fd, source.name, name)
    finally:
        os.close(fd)
    into.flush()
    into.seek(0)


def copy_to(
    client: DaemonClient, source: str, container: str, path: str, archive_mode: bool, follow: bool
) -> None:
    query: dict[str, Any] = {"copyUIDGID": archive_mode or None, "noOverwriteDirNonDir": True}
    url = f"/containers/{segment(container)}/archive"
    with tempfile.TemporaryFile() as spooled:
        if source == "-":
            _spool(iter(lambda: sys.stdin.buffer.read(CHUNK), b""), spooled)
            client.request("PUT", url, {**query, "path": path}, headers=TAR_HEADERS, data=spooled)
            return
        local = Path(os.path.realpath(source)) if follow else Path(os.path.abspath(source))
        found = _stat(client, container, path)
        if found is not None and found.get("mode", 0) & GO_DIR:
            directory, name = path, local.name
        else:
            if path.endswith("/"):
                raise click.ClickException(f"destination directory {path} does not exist")
            directory, _, name = path.rstrip("/").rpartition("/")
            directory = directory or "/"
        _local_tar(local, name, spooled)
        client.request("PUT", url, {**query, "path": directory}, headers=TAR_HEADERS, data=spooled)


@click.command()
@click.option("-a", "--archive", "archive_mode", is_flag=True, help="Copy all uid/gid information.")
@click.option("-L", "--follow-link", "follow", is_flag=True, help="Follow symbol links in SRC.")
@click.argument("source")
@click.argument("destination")
@click.pass_context
def cp(ctx: click.Context, archive_mode: bool, follow: bool, source: str, destination: str) -> None:
    """Copy files/folders between a container and the local filesystem (`-` for a tar on
    stdin or stdout)."""
    (src_container, src_path), (dst_container, dst_path) = (
        split_cp_arg(source),
        split_cp_arg(destination),
    )
    if (src_container is None) == (dst_container is None):
        raise click.UsageError("copying between containers or local paths is not supported")
    with daemon_errors(ctx):
        client = connect(ctx)
        if src_container is not None:
            copy_from(client, src_container, src_path, destination, archive_mode, follow)
        else:
            assert dst_container is not None
            copy_to(client, source, dst_container, dst_path, archive_mode, follow)


@click.command()
@click.option("-o", "--output", default=None, help="Write to a file, instead of STDOUT.")
@click.argument("container")
@click.pass_context
def export(ctx: click.Context, output: str | None, container: str) -> None:
    """Export a container's filesystem as a tar archive."""
    refuse_terminal(output)
    with daemon_errors(ctx):
        response = connect(ctx).request("GET", f"/containers/{segment(container)}/export")
        write_output(response, output)


def refuse_terminal(output: str | None) -> None:
    """A tar archive goes to a file or a pipe, never to a terminal (as docker's)."""
    if output is None and sys.stdout.isatty():
        raise click.ClickException(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )


def write_output(response: Response, output: str | None) -> None:
    """The response's body to the file `output`, or to stdout."""
    with open(output, "wb") if output else os.fdopen(os.dup(1), "wb") as out:
        for piece in response.pieces():
            out.write(piece)


@click.command()
@click.argument("container")
@click.pass_context
def diff(ctx: click.Context, container: str) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    with daemon_errors(ctx):
        changes = connect(ctx).call("GET", f"/containers/{segment(container)}/changes")
    for change in changes or []:
        click.echo(f"{KINDS.get(change['Kind'], '?')} {change['Path']}")


@click.command()
@click.option("-a", "--author", default="", help='Author (e.g., "John <john@a.com>").')
@click.option("-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction.")
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-p/--no-pause", "--pause", "pause", default=True, help="Pause during commit.")
@click.argument("container")
@click.argument("reference", required=False)
@click.pass_context
def commit(
    ctx: click.Context,
    author: str,
    changes: tuple[str, ...],
    message: str,
    pause: bool,
    container: str,
    reference: str | None,
) -> None:
    """Create a new image from a container's changes."""
    repo, tag = split_reference(reference) if reference else ("", "")
    query: dict[str, Any] = {
        "container": container,
        "repo": repo or None,
        "tag": tag or None,
        "author": author or None,
        "comment": message or None,
        "pause": pause,
        "changes": list(changes) or None,
    }
    with daemon_errors(ctx):
        answer = connect(ctx).call("POST", "/commit", query)
    click.echo(answer["Id"])


COMMANDS = [cp, export, diff, commit]
