"""Docker's `User` resolved against the image's /etc/passwd and /etc/group (moby/sys/user).

The caller reads both files from the root filesystem (without following links out of it)
and passes their text, or None when a file is missing; nothing here touches the disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InvalidParameter

MAX_ID = 2**31 - 1
_NUMBER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class ResolvedUser:
    """Who the container's process runs as: the OCI `process.user` fields."""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    name: str = ""
    home: str = "/"

    def to_oci(self) -> dict[str, object]:
        out: dict[str, object] = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            out["additionalGids"] = list(self.additional_gids)
        return out


@dataclass(frozen=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _check_range(value: int) -> int:
    if value < 0 or value > MAX_ID:
        raise InvalidParameter(f"uids and gids must be in range 0-{MAX_ID}")
    return value


def _number(text: str) -> int | None:
    """Go's `strconv.Atoi` on a user or group argument, range-checked; None for a name."""
    if not _NUMBER.fullmatch(text):
        return None
    return _check_range(int(text))


def _lines(text: str | None) -> list[list[str]]:
    if not text:
        return []
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line.split(":"))
    return out


def parse_passwd(text: str | None) -> list[_PasswdEntry]:
    entries = []
    for parts in _lines(text):
        if len(parts) < 4 or not parts[2].isdigit() or not parts[3].isdigit():
            continue  # a malformed line matches nothing, as in moby/sys/user
        uid, gid = int(parts[2]), int(parts[3])
        if uid > MAX_ID or gid > MAX_ID:
            continue  # an id that would wrap (CVE-2024-40635) is never used
        home = parts[5] if len(parts) > 5 and parts[5] else "/"
        entries.append(_PasswdEntry(parts[0], uid, gid, home))
    return entries


def parse_group(text: str | None) -> list[_GroupEntry]:
    entries = []
    for parts in _lines(text):
        if len(parts) < 3 or not parts[2].isdigit() or int(parts[2]) > MAX_ID:
            continue
        members = tuple(m for m in parts[3].split(",") if m) if len(parts) > 3 else ()
        entries.append(_GroupEntry(parts[0], int(parts[2]), members))
    return entries


def _find_group(arg: str, groups: list[_GroupEntry], said: str = "unable") -> int:
    """`said`: how the refusal begins — runc's "unable" for a user's group, dockerd's
    "Unable" for --group-add."""
    number = _number(arg)
    for entry in groups:
        if entry.name == arg or (number is not None and entry.gid == number):
            return entry.gid
    if number is None:
        raise InvalidParameter(f"{said} to find group {arg}: no matching entries in group file")
    return number


def resolve_user(
    user: str,
    passwd: str | None,
    group: str | None,
    group_add: Sequence[str] = (),
) -> ResolvedUser:
    """`user.GetExecUser` with Docker's defaults (root, gid 0, home /) and `GroupAdd`.

    `user` is "", "name", "uid", "uid:gid", "name:group" or "uid:group". Supplementary
    groups are the groups listing the user by name, unless a group was given; the primary
    gid is listed first in `additional_gids` (the CVE-2023-25173 fix).
    """
    user_arg, sep, group_arg = user.partition(":")
    users = parse_passwd(passwd)
    groups = parse_group(group)

    uid, gid, name, home = 0, 0, "", "/"
    wanted = user_arg if user_arg else "0"
    number = _number(wanted)
    match = next(
        (e for e in users if e.name == wanted or (number is not None and e.uid == number)),
        None,
    )
    if match is not None:
        uid, gid, name, home = match.uid, match.gid, match.name, match.home
    elif number is not None:
        uid = number
    else:
        raise InvalidParameter(
            f"unable to find user {user_arg}: no matching entries in passwd file"
        )

    supplementary: list[int] = []
    if sep and group_arg:
        gid = _find_group(group_arg, groups)
    elif name:
        supplementary = [e.gid for e in groups if name in e.members]
    supplementary.extend(_find_group(extra, groups, "Unable") for extra in group_add)

    additional: list[int] = []
    for value in [gid, *supplementary]:
        if value not in additional:
            additional.append(value)
    return ResolvedUser(uid=uid, gid=gid, additional_gids=tuple(additional), name=name, home=home)
