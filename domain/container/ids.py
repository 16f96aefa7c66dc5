"""Docker-style container ids: 64 lowercase hex characters, shown shortened to 12, which
is also the hostname of a container that names none."""

from __future__ import annotations

import re

_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
SHORT_ID_LENGTH = 12


def is_container_id(text: str) -> bool:
    return bool(_FULL_ID.match(text))


def short_id(container_id: str) -> str:
    return container_id[:SHORT_ID_LENGTH]


def default_hostname(container_id: str) -> str:
    """The hostname Docker gives a container that asks for none: its short id."""
    return short_id(container_id)


def container_hostname(configured: object, container_id: str) -> str:
    """The container's `Config.Hostname` if it sets one, else the default."""
    return str(configured or "") or default_hostname(container_id)


def container_id_from_entropy(entropy: bytes) -> str:
    """A container id from 32 random bytes the caller drew.

    Docker re-draws ids that are all digits, since the CLI would read such a short id
    as a number; the caller does the same when this raises.
    """
    if len(entropy) != 32:
        raise ValueError("a container id needs 32 bytes of entropy")
    candidate = entropy.hex()
    if candidate[:SHORT_ID_LENGTH].isdigit():
        raise ValueError("all-digit short id; draw again")
    return candidate
