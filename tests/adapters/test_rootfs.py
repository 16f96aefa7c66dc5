"""Reading files of a container's root filesystem: resolved inside it, never blocking,
never opening anything but a small regular file."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.adapters.snapshots import rootfs
from berth.adapters.snapshots.rootfs import UnsafeContainerFile, read_in_root

PASSWD = "app:x:1000:1000::/:/bin/sh\n"


@pytest.fixture(params=["openat2", "no-openat2"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with openat2 and as on a kernel without it (before Linux 5.6)."""
    if request.param == "no-openat2":

        def missing(*_: object) -> int:
            raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

        monkeypatch.setattr(rootfs, "_openat2", missing)
    return str(request.param)


@pytest.fixture
def alarm() -> Iterator[None]:
    """A read that blocks is interrupted after 5 s (and fails the test) instead of hanging."""

    def interrupted(*_: object) -> None:
        raise TimeoutError("read_in_root blocked")

    previous = signal.signal(signal.SIGALRM, interrupted)
    signal.alarm(5)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    made = tmp_path / "root"
    (made / "etc").mkdir(parents=True)
    return made


def refused(root: Path, relative: str = "etc/passwd", limit: int = 1 << 20) -> str:
    with pytest.raises(UnsafeContainerFile) as error:
        read_in_root(root, relative, limit)
    assert error.value.http_status == 400
    return error.value.message


def test_reads_a_file_inside_the_root(kernel: str, root: Path) -> None:
    (root / "etc" / "passwd").write_text(PASSWD)
    assert read_in_root(root, "etc/passwd") == PASSWD
    assert read_in_root(root, "/etc//./passwd") == PASSWD
    assert read_in_root(root, "etc/group") is None
    assert read_in_root(root, "etc/passwd/x") is None


def test_never_follows_a_link_out_of_the_root(kernel: str, tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:host secret\n")
    (root / "etc").rmdir()
    os.symlink(str(outside), root / "etc")  # a symlinked parent, absolute
    assert read_in_root(root, "etc/passwd") is None
    (root / "etc").unlink()
    os.symlink("../outside", root / "etc")  # relative, climbing above the root
    assert read_in_root(root, "etc/passwd") is None
    (root / "etc").unlink()
    (root / "etc").mkdir()
    os.symlink(str(outside / "passwd"), root / "etc" / "passwd")  # a symlinked file
    if kernel == "openat2":
        assert read_in_root(root, "etc/passwd") is None  # taken inside the root: absent
    else:
        assert "symbolic link" in refused(root)


def test_a_link_inside_the_root_is_followed_there(kernel: str, root: Path) -> None:
    """As dockerd's FollowSymlinkInScope: an absolute target is taken inside the root."""
    (root / "srv").mkdir()
    (root / "srv" / "passwd").write_text(PASSWD)
    os.symlink("/srv/passwd", root / "etc" / "passwd")
    if kernel == "openat2":
        assert read_in_root(root, "etc/passwd") == PASSWD
    else:  # no kernel help to resolve it safely: refused, never followed
        assert "symbolic link" in refused(root)


def test_a_fifo_is_refused_without_blocking(kernel: str, root: Path, alarm: None) -> None:
    os.mkfifo(root / "etc" / "passwd")
    assert refused(root) == "cannot read /etc/passwd of the container: it is a FIFO"


def test_a_link_to_a_fifo_inside_the_root_is_refused(kernel: str, root: Path, alarm: None) -> None:
    os.mkfifo(root / "fifo")
    os.symlink("/fifo", root / "etc" / "passwd")
    assert "cannot read /etc/passwd of the container: it is a" in refused(root)


def test_a_device_node_is_never_opened(kernel: str, root: Path, alarm: None) -> None:
    # /dev/tty's numbers: opening it without a controlling terminal fails with ENXIO,
    # so only a reader that never opens it gets the clear refusal.
    os.mknod(root / "etc" / "passwd", 0o600 | 0o020000, os.makedev(5, 0))
    assert refused(root) == "cannot read /etc/passwd of the container: it is a character device"


def test_a_directory_is_refused(kernel: str, root: Path) -> None:
    (root / "etc" / "passwd").mkdir()
    assert refused(root) == "cannot read /etc/passwd of the container: it is a directory"


def test_a_file_over_the_cap_is_refused_naming_it(kernel: str, root: Path) -> None:
    with open(root / "etc" / "passwd", "wb") as big:
        big.truncate(100 * (1 << 20))  # 100 MiB, sparse
    message = refused(root)
    assert message == f"cannot read /etc/passwd of the container: it is larger than {1 << 20} bytes"
    (root / "etc" / "group").write_bytes(b"x" * 11)
    assert "larger than 10 bytes" in refused(root, "etc/group", limit=10)
    assert read_in_root(root, "etc/group", limit=11) == "x" * 11


def test_a_link_loop_is_refused_naming_the_file(root: Path) -> None:
    os.symlink("/etc/passwd", root / "etc" / "passwd")
    assert refused(root).startswith("cannot read /etc/passwd of the container: ")


def test_paths_that_climb_are_not_asked_for(root: Path) -> None:
    with pytest.raises(ValueError, match="not a plain relative path"):
        read_in_root(root, "../etc/passwd")
