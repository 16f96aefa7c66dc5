"""Detach keys: the key sequence that ends an attach to a terminal, as dockerd reads it.

`--detach-keys` (and the API's `detachKeys`) is a `,`-separated list of keys, each one
character, `ctrl-<x>` for x in `@a`…`z[\\]^_`, or `DEL`; the default is ctrl-p,ctrl-q.
Only attaches to a container with a TTY honour them (dockerd's copyEscapable).
"""

from __future__ import annotations

from .errors import InvalidParameter

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
_CONTROL_NAMES = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse_detach_keys(text: str) -> bytes:
    """The bytes of a detach-keys setting; "" is the default. 400 with dockerd's message."""
    if text == "":
        return DEFAULT_DETACH_KEYS
    codes = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            codes += key.encode()[:1]
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CONTROL_NAMES:
            codes.append(_CONTROL_NAMES.index(key[5]))
        elif key == "DEL":
            codes.append(127)
        else:
            raise InvalidParameter(f"Invalid detach keys ({text}) provided")
    return bytes(codes)


class DetachScanner:
    """Finds the detach keys in what a client types, holding back a partial match.

    `feed` answers the bytes to pass on and whether the keys were typed (then nothing
    after them is passed). A partial match that does not go on is passed on as typed,
    as dockerd's escape proxy does.
    """

    def __init__(self, keys: bytes = DEFAULT_DETACH_KEYS) -> None:
        self.keys = keys
        self._held = b""  # the end of the input so far that begins the keys

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        keys = self.keys
        if not keys or (not self._held and keys[0] not in data):
            return data, False  # the common case: no byte-by-byte work
        out = bytearray()
        held = self._held
        for index in range(len(data)):
            held += data[index : index + 1]
            while held and not keys.startswith(held):
                out += held[:1]
                held = held[1:]
            if held == keys:
                self._held = b""
                return bytes(out), True
        self._held = held
        return bytes(out), False
