"""Listening on a unix socket: its mode, a stale socket replaced, a live one left alone."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import trio
import trio.testing

from berth.runtime.http.listen import check_socket_free, serve_listeners, unix_listener
from berth.runtime.http.server import Server

from .site import Client, echo_site


async def serve_on(path: Path, nursery: trio.Nursery) -> trio.CancelScope:
    """The test site on a unix socket at `path`, until the returned scope is cancelled."""
    server = Server(echo_site())
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[None]) -> None:
        with scope:
            async with unix_listener(path, 0o660) as listener:
                await serve_listeners([listener], server.handle, task_status.started)

    await nursery.start(run)
    return scope


async def ask(path: Path, item: str) -> int:
    client = Client(await trio.open_unix_socket(str(path)))
    async with client.stream:
        return (await client.request("GET", f"/items/{item}")).status


async def test_a_socket_is_served_with_its_mode_and_removed_at_the_end(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    path = tmp_path / "run" / "api.sock"
    scope = await serve_on(path, nursery)
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    assert [await ask(path, str(n)) for n in range(3)] == [200, 200, 200]
    scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert not path.exists()


async def test_a_stale_socket_is_replaced_and_a_live_one_is_not(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody answers on it
    await serve_on(path, nursery)
    assert await ask(path, "x") == 200
    with pytest.raises(FileExistsError, match="another daemon is serving"):
        check_socket_free(path)
    with pytest.raises(FileExistsError):
        async with unix_listener(path, 0o660):
            pass
    assert await ask(path, "still") == 200


async def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    path.write_text("not a socket")
    with pytest.raises(FileExistsError, match="not a socket"):
        async with unix_listener(path, 0o660):
            pass
    assert path.read_text() == "not a socket"
