"""One mapping of "no space" to one error: ENOSPC, EDQUOT and SQLite's SQLITE_FULL."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from eventsourcing.persistence import OperationalError

from berth.domain.errors import DiskFull, NotFound, disk_full, space_for

PATH = "/var/lib/berth/events.db"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_no_space_and_quota_are_disk_full_naming_the_path(code: int) -> None:
    found = disk_full(OSError(code, "No space left on device"), PATH)
    assert found is not None
    assert found.http_status == 503
    assert found.message == f"no space left on device: {PATH}"


def test_an_error_that_names_its_own_file_is_named_by_it() -> None:
    error = OSError(errno.ENOSPC, "No space left on device", "/var/lib/berth/content/x")
    found = disk_full(error, PATH)
    assert found is not None
    assert found.path == "/var/lib/berth/content/x"


def sqlite_full() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    return error


def test_sqlite_full_is_found_under_the_library_s_wrapping() -> None:
    try:
        try:
            raise sqlite_full()
        except sqlite3.OperationalError as inner:
            raise OperationalError(inner) from inner
    except OperationalError as wrapped:
        found = disk_full(wrapped, PATH)
    assert found is not None
    assert found.message == f"no space left on device: {PATH}"


def test_a_nursery_s_group_is_searched() -> None:
    group = ExceptionGroup("nursery", [ValueError("x"), OSError(errno.ENOSPC, "full")])
    found = disk_full(group, PATH)
    assert found is not None and found.path == PATH


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.EACCES, "Permission denied"),
        sqlite3.OperationalError("database is locked"),
        ValueError("no space left on device"),  # words are not an errno
        NotFound("No such container: x"),
    ],
)
def test_other_errors_are_not_disk_full(error: Exception) -> None:
    assert disk_full(error, PATH) is None


def test_space_for_turns_only_a_lack_of_space_into_disk_full() -> None:
    with pytest.raises(DiskFull, match=f"no space left on device: {PATH}$"), space_for(PATH):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError), space_for(PATH):
        raise PermissionError(errno.EACCES, "Permission denied")
