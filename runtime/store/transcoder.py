"""msgpack encoding of stored events (see ADR/0002).

msgpack keeps what JSON loses: tuples stay tuples, int dict keys stay ints, bytes stay
bytes, timezone-aware datetimes keep their offset. Types are never flattened silently:
anything without a transcoding is refused at save time, before the transaction.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgpack
from eventsourcing.persistence import Transcoder, Transcoding, TranscodingNotRegisteredError

from berth.domain.cause import Actor
from berth.domain.container import ContainerState

# Extension type codes; stored data depends on them, so they never change meaning.
_EXT_REGISTERED = 0
_EXT_UUID = 1
_EXT_DECIMAL = 2
_EXT_DATETIME_OFFSET = 3
_EXT_TUPLE = 4


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict[str, object]:
        return obj.to_dict()

    def decode(self, data: dict[str, object]) -> Actor:
        return Actor.from_dict(data)


class ContainerStateAsValue(Transcoding):
    """Snapshots of containers hold their state as this enum."""

    type = ContainerState
    name = "container_state"

    def encode(self, obj: ContainerState) -> str:
        return obj.value

    def decode(self, data: str) -> ContainerState:
        return ContainerState(data)


class MsgpackTranscoder(Transcoder):
    """An eventsourcing `Transcoder` that writes msgpack; thread-safe (no shared packer)."""

    def __init__(self) -> None:
        self._by_type: dict[type, Transcoding] = {}
        self._by_name: dict[str, Transcoding] = {}
        self._local = threading.local()
        self._decoded: dict[bytes, Any] = {}
        self.register(ActorAsDict())
        self.register(ContainerStateAsValue())

    def register(self, transcoding: Transcoding) -> None:
        self._by_type[transcoding.type] = transcoding
        self._by_name[transcoding.name] = transcoding

    def encode(self, obj: Any) -> bytes:
        # A Packer per thread and nesting depth: building one per call costs more than
        # packing a typical event, and a Packer must not be re-entered from `default`.
        packers: list[msgpack.Packer] = getattr(self._local, "packers", None) or []
        depth = getattr(self._local, "depth", 0)
        if depth == len(packers):
            packers.append(
                msgpack.Packer(default=self._default, use_bin_type=True, strict_types=True)
            )
            self._local.packers = packers
        self._local.depth = depth + 1
        try:
            packed: bytes = packers[depth].pack(obj)
        except BaseException:
            packers[depth] = msgpack.Packer(
                default=self._default, use_bin_type=True, strict_types=True
            )
            raise
        finally:
            self._local.depth = depth
        return packed

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(
            data, ext_hook=self._ext_hook, timestamp=3, strict_map_key=False, raw=False
        )

    def _default(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is datetime:
            if obj.tzinfo is UTC:
                return msgpack.Timestamp.from_datetime(obj)
            return msgpack.ExtType(_EXT_DATETIME_OFFSET, obj.isoformat().encode())
        if kind is tuple:
            return msgpack.ExtType(_EXT_TUPLE, self.encode(list(obj)))
        if kind is uuid.UUID:
            return msgpack.ExtType(_EXT_UUID, obj.bytes)
        if kind is Decimal:
            return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
        transcoding = self._by_type.get(kind)
        if transcoding is None:
            raise TranscodingNotRegisteredError(
                f"Object type {kind} is not supported by the msgpack transcoder: {obj!r}"
            )
        return msgpack.ExtType(
            _EXT_REGISTERED, self.encode([transcoding.name, transcoding.encode(obj)])
        )

    def _decode_registered(self, data: bytes) -> Any:
        # Registered values are immutable and repeat often (one actor causes many events):
        # decode each distinct encoding once.
        cache: dict[bytes, Any] = self._decoded
        value = cache.get(data)
        if value is None:
            name, payload = self.decode(data)
            value = self._by_name[name].decode(payload)
            if len(cache) > 4096:
                cache.clear()
            cache[data] = value
        return value

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _EXT_TUPLE:
            return tuple(self.decode(data))
        if code == _EXT_DATETIME_OFFSET:
            return datetime.fromisoformat(data.decode())
        if code == _EXT_UUID:
            return uuid.UUID(bytes=data)
        if code == _EXT_DECIMAL:
            return Decimal(data.decode())
        if code == _EXT_REGISTERED:
            return self._decode_registered(data)
        return msgpack.ExtType(code, data)
