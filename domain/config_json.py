"""Reading and writing Docker's JSON shapes for the config value objects.

Each dataclass field of a config value object names its Docker JSON key and a codec in its
metadata; `DockerStruct` walks the fields. The codecs copy Go's `encoding/json` rules,
because those are what clients are used to:

- `null` leaves a field at its zero value (so a null string is "", a null slice is nil);
- unknown keys are ignored;
- a value of the wrong JSON type is refused with Go's message, `json: cannot unmarshal
  number into Go struct field Config.Cmd of type []string`;
- `omitempty` fields are left out when empty, every other field is always written, nil
  slices, maps and pointers as `null`.

A field whose Go type can be nil (slice, map, pointer) and is not `omitempty` is typed
`X | None` here, so that `null` and `[]` survive a round trip as Docker keeps them apart.
An `omitempty` collection cannot be told apart from an empty one on the wire, so it is a
plain (possibly empty) value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from .errors import InvalidParameter

_INT_RANGES: dict[str, tuple[int, int]] = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint": (0, 2**64 - 1),
    "uint16": (0, 2**16 - 1),
    "os.FileMode": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


def _json_kind(value: object) -> str:
    """Go's name for the JSON type of a decoded value, as its errors print it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def type_error(value: object, where: str, go_type: str, *, show: bool = False) -> InvalidParameter:
    kind = _json_kind(value)
    if show:
        # Go prints the literal for numbers that do not fit the target type.
        kind = f"{kind} {value!r}"
    return InvalidParameter(
        f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}"
    )


class Codec:
    """How one Go type reads from and writes to JSON."""

    go_type: str = ""

    def zero(self) -> Any:
        """What `null` decodes to where this type is a slice element or map value."""
        return None

    def null(self, where: str) -> Any:
        """`null` as a slice element or map value."""
        return self.zero()

    def decode(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        return value

    def empty(self, value: Any) -> bool:
        """Go's `omitempty` test."""
        return (
            value is None
            or value in ("", 0, False)
            or (isinstance(value, tuple | Mapping) and len(value) == 0)
        )


class _Str(Codec):
    go_type = "string"

    def zero(self) -> Any:
        return ""

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise type_error(value, where, self.go_type)
        return value


class _Bool(Codec):
    go_type = "bool"

    def zero(self) -> Any:
        return False

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise type_error(value, where, self.go_type)
        return value


class _Int(Codec):
    def __init__(self, go_type: str) -> None:
        self.go_type = go_type
        self._low, self._high = _INT_RANGES[go_type]

    def zero(self) -> Any:
        return 0

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise type_error(value, where, self.go_type)
        if isinstance(value, float) or not self._low <= value <= self._high:
            raise type_error(value, where, self.go_type, show=True)
        return value


class Opt(Codec):
    """A Go pointer (`*int64`, `*bool`, `*HealthConfig`): absent is `None`."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.go_type = "*" + inner.go_type.lstrip("*")

    def decode(self, value: Any, where: str) -> Any:
        return None if value is None else self.inner.decode(value, where)

    def encode(self, value: Any) -> Any:
        return None if value is None else self.inner.encode(value)

    def empty(self, value: Any) -> bool:
        return value is None


class ListOf(Codec):
    """A Go slice, decoded to a tuple; `nil` is `None` unless `nil_is_empty`."""

    def __init__(self, item: Codec, *, nil_is_empty: bool = False, go_type: str = "") -> None:
        self.item = item
        self.nil_is_empty = nil_is_empty
        self.go_type = go_type or "[]" + item.go_type

    def zero(self) -> Any:
        return () if self.nil_is_empty else None

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return self.zero()
        if not isinstance(value, list | tuple):
            raise type_error(value, where, self.go_type)
        return tuple(
            self.item.null(where) if v is None else self.item.decode(v, where) for v in value
        )

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        return [self.item.encode(v) for v in value]


class _StrSlice(ListOf):
    """Docker's `strslice.StrSlice`: a JSON string is accepted as a one-element list."""

    def __init__(self, *, nil_is_empty: bool = False) -> None:
        super().__init__(STR, nil_is_empty=nil_is_empty, go_type="[]string")

    def decode(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return (value,)
        return super().decode(value, where)


class MapOf(Codec):
    """A Go map with string keys; `nil` is `None` unless `nil_is_empty`."""

    def __init__(self, value: Codec, *, nil_is_empty: bool = False, go_type: str = "") -> None:
        self.value = value
        self.nil_is_empty = nil_is_empty
        self.go_type = go_type or "map[string]" + value.go_type

    def zero(self) -> Any:
        return {} if self.nil_is_empty else None

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return self.zero()
        if not isinstance(value, Mapping):
            raise type_error(value, where, self.go_type)
        return {
            k: self.value.null(where) if v is None else self.value.decode(v, where)
            for k, v in value.items()
        }

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        return {k: self.value.encode(v) for k, v in value.items()}


class KeySet(Codec):
    """A Go `map[string]struct{}` (ExposedPorts, Volumes), held as a sorted tuple of keys."""

    def __init__(self, go_type: str, *, nil_is_empty: bool = False) -> None:
        self.go_type = go_type
        self.nil_is_empty = nil_is_empty

    def zero(self) -> Any:
        return () if self.nil_is_empty else None

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return self.zero()
        if not isinstance(value, Mapping):
            raise type_error(value, where, self.go_type)
        for v in value.values():
            if v is not None and not isinstance(v, Mapping):
                raise type_error(v, where, "struct {}")
        return tuple(sorted(value))

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        return {k: {} for k in value}


class _Raw(Codec):
    """A JSON object berth keeps verbatim (driver options and the like)."""

    go_type = "object"

    def decode(self, value: Any, where: str) -> Any:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise type_error(value, where, self.go_type)
        return copy_json(value)

    def encode(self, value: Any) -> Any:
        return None if value is None else copy_json(value)


class Struct(Codec):
    """A nested Go struct, decoded by its own `DockerStruct.from_docker`."""

    def __init__(self, cls: type[DockerStruct]) -> None:
        self.cls = cls
        self.go_type = cls.GO_TYPE

    def null(self, where: str) -> Any:
        # A nil struct pointer inside a list or map only makes dockerd fail later on.
        raise InvalidParameter(
            f"json: cannot unmarshal null into Go struct field {where} of type {self.go_type}"
        )

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, Mapping):
            raise type_error(value, where, self.go_type)
        return self.cls.from_docker(value)

    def encode(self, value: Any) -> Any:
        return None if value is None else value.to_docker()


def copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON, so that a value object never shares the caller's dicts."""
    if isinstance(value, Mapping):
        return {str(k): copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(v) for v in value]
    return value


STR = _Str()
BOOL = _Bool()
INT = _Int("int")
INT64 = _Int("int64")
UINT = _Int("uint")
UINT16 = _Int("uint16")
UINT64 = _Int("uint64")
FILE_MODE = _Int("os.FileMode")
RAW = _Raw()
STRLIST = ListOf(STR)
STRSLICE = _StrSlice()
STRSLICE_OMITEMPTY = _StrSlice(nil_is_empty=True)
STRMAP = MapOf(STR)


def jf(key: str, codec: Codec, *, omitempty: bool = False) -> dict[str, Any]:
    """Field metadata: the Docker JSON key, its codec, and Go's `omitempty`."""
    return {"docker": key, "codec": codec, "omitempty": omitempty}


_Keys = tuple[dict[str, "dataclasses.Field[Any]"], dict[str, "dataclasses.Field[Any]"]]
_KEYS: dict[type, _Keys] = {}


def _keys_of(struct: type) -> _Keys:
    """A struct's fields by their Docker key, and by that key in lower case."""
    keys = _KEYS.get(struct)
    if keys is None:
        exact = {f.metadata["docker"]: f for f in dataclasses.fields(struct)}
        keys = _KEYS[struct] = (exact, {k.lower(): f for k, f in exact.items()})
    return keys


class DockerStruct:
    """Mixin for frozen dataclasses that mirror a Docker API struct field by field."""

    GO_STRUCT: ClassVar[str] = ""
    GO_TYPE: ClassVar[str] = ""

    @classmethod
    def from_docker(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidParameter(
                f"json: cannot unmarshal {_json_kind(data)} into Go value of type {cls.GO_TYPE}"
            )
        exact, folded = _keys_of(cls)
        found: dict[str, tuple[dataclasses.Field[Any], Any]] = {}
        for key, value in data.items():
            # Go's encoding/json: an exact key first, else one that differs in case only
            # (docker-py sends "CPURealtimeRuntime"); of two keys for a field, the last.
            f = exact.get(key) or folded.get(str(key).lower())
            if f is not None and value is not None:
                found[f.name] = (f, value)
        kwargs: dict[str, Any] = {}
        for name, (f, value) in found.items():
            codec: Codec = f.metadata["codec"]
            kwargs[name] = codec.decode(value, f"{cls.GO_STRUCT}.{f.metadata['docker']}")
        return cls(**kwargs)

    def to_docker(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            meta = f.metadata
            codec: Codec = meta["codec"]
            value = getattr(self, f.name)
            if meta["omitempty"] and codec.empty(value):
                continue
            out[meta["docker"]] = codec.encode(value)
        return out
