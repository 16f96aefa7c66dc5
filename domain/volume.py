"""The Volume aggregate: a named volume of the `local` driver, who uses it, who mounts it.

The id is derived from the name (uuid5), as a Name's is, so a name has one volume and two
creates racing for it both write version 1: one wins, the other answers the winner's
volume (dockerd's create is idempotent). A removed volume's name is free again; the next
create continues the same stream (`Recreated`).

The volume keeps its own references: a container that names it at create is `Referenced`
in the same transaction as the container's `Created`, and `Released` with its `Removed`,
so `volume rm` and a container create cannot both win (409 "volume is in use"), and the
references survive any restart of the engine. `Mounted`/`Unmounted` record each start and
exit of a user (Docker's `mount`/`unmount` events); the driver mounts a volume with mount
options for its first mounter and unmounts it after its last.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause
from .config_json import STR, STRMAP, DockerStruct, jf
from .errors import Conflict, InvalidParameter, NotFound
from .settings_rules import go_quote

T = "berth.volume"
VOLUMES_NAMESPACE = uuid.UUID("0d5b7f0e-8c1a-5b8e-9f3d-6a2e4c1b7d90")
LOCAL_DRIVER = "local"
# moby's names.RestrictedNameChars / RestrictedNamePattern.
RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
# volume/local's options (local_unix.go): each key of `mandatoryOpts` needs its values.
LOCAL_OPTIONS = ("type", "o", "device", "size")
_MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


VOLUMES_DIR = "volumes"
DATA_DIR = "_data"


def volumes_dir(root: str) -> str:
    """Where an engine's local volumes are: `<root>/volumes`."""
    return posixpath.join(root, VOLUMES_DIR)


def data_path(volumes: str, name: str) -> str:
    """A local volume's data (its `Mountpoint`) in the volumes directory."""
    return posixpath.join(volumes, name, DATA_DIR)


def volume_id(name: str) -> str:
    """The aggregate id of a volume's name."""
    return str(uuid.uuid5(VOLUMES_NAMESPACE, f"/volumes/{name}"))


def volume_name_problem(name: str) -> str | None:
    """What volume/local's `validateName` says of a name; None when it is fine."""
    if len(name) == 1:
        return "volume name is too short, names should be at least two alphanumeric characters"
    if not _NAME.fullmatch(name):
        return (
            f"{go_quote(name)} includes invalid characters for a local volume name, only "
            f"{go_quote(RESTRICTED_NAME_CHARS)} are allowed. If you intended to pass a host "
            "directory, use absolute path"
        )
    return None


def validate_volume_name(name: str) -> str:
    """A local volume's name, or dockerd's 400 in its create's words."""
    problem = volume_name_problem(name)
    if problem is not None:
        raise InvalidParameter(f"create {name}: {problem}")
    return name


def validate_driver(name: str, driver: str) -> str:
    """`local` ('' means it); any other driver is a plugin, and berth loads none."""
    if driver in ("", LOCAL_DRIVER):
        return LOCAL_DRIVER
    raise NotFound(
        f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found'
    )


def validate_local_options(name: str, options: Mapping[str, str]) -> dict[str, str]:
    """The driver options of volume/local, refused as it refuses them."""
    for key in options:
        if key not in LOCAL_OPTIONS:
            raise InvalidParameter(f'create {name}: invalid option: "{key}"')
    for key, needed in _MANDATORY.items():
        for other in needed if key in options else ():
            if other not in options:
                raise InvalidParameter(f'create {name}: missing required option: "{other}"')
    if "size" in options:
        raise InvalidParameter(f"create {name}: quota size requested but no quota support")
    return dict(options)


def needs_mount(options: Mapping[str, str] | None) -> bool:
    """A volume with a `type` or `device` is mounted on its data dir while in use."""
    return options is not None and bool(options.get("type") or options.get("device"))


def no_such_volume(name: str) -> NotFound:
    return NotFound(f"get {name}: no such volume")


def volume_in_use(name: str, users: list[str]) -> Conflict:
    return Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")


@dataclass(frozen=True)
class VolumeCreateBody(DockerStruct):
    """`POST /volumes/create`'s body, decoded as dockerd decodes it (a wrong type is its
    json 400)."""

    GO_STRUCT = "VolumeCreateBody"
    GO_TYPE = "volume.VolumeCreateBody"

    name: str = field(default="", metadata=jf("Name", STR))
    driver: str = field(default="", metadata=jf("Driver", STR))
    driver_opts: Mapping[str, str] | None = field(default=None, metadata=jf("DriverOpts", STRMAP))
    labels: Mapping[str, str] | None = field(default=None, metadata=jf("Labels", STRMAP))


@dataclass(frozen=True)
class VolumeMount:
    """One user's mount of the volume, as Docker's `mount` event tells it."""

    destination: str
    read_write: bool
    propagation: str


class Volume(StrIdAggregate):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

    @dataclass(frozen=True)
    class Created(Event, CreatedEvent):
        TOPIC = f"{T}.Created"
        name: str
        driver: str
        options: dict[str, str] | None
        labels: dict[str, str] | None
        anonymous: bool

        def apply(self, v: Volume) -> None:
            v.name = self.name
            v.begin(self)

    @dataclass(frozen=True)
    class Recreated(Event):
        """A create of the name after its volume was removed. It names the volume, as
        `Created` does: the volume view dropped the row at `Removed`, and the id (a hash
        of the name) cannot give the name back."""

        TOPIC = f"{T}.Recreated"
        driver: str
        options: dict[str, str] | None
        labels: dict[str, str] | None
        anonymous: bool
        name: str = ""  # "" in logs written before it was recorded

        def apply(self, v: Volume) -> None:
            v.begin(self)

    @dataclass(frozen=True)
    class Referenced(Event):
        TOPIC = f"{T}.Referenced"
        container_id: str

        def apply(self, v: Volume) -> None:
            v.users = [*v.users, self.container_id]

    @dataclass(frozen=True)
    class Released(Event):
        TOPIC = f"{T}.Released"
        container_id: str

        def apply(self, v: Volume) -> None:
            v.users = [u for u in v.users if u != self.container_id]
            v.mounts.pop(self.container_id, None)

    @dataclass(frozen=True)
    class Mounted(Event):
        TOPIC = f"{T}.Mounted"
        container_id: str
        destination: str
        read_write: bool
        propagation: str

        def apply(self, v: Volume) -> None:
            mount = {
                "destination": self.destination,
                "read_write": self.read_write,
                "propagation": self.propagation,
            }
            v.mounts = {**v.mounts, self.container_id: mount}

    @dataclass(frozen=True)
    class Unmounted(Event):
        TOPIC = f"{T}.Unmounted"
        container_id: str

        def apply(self, v: Volume) -> None:
            v.mounts = {k: m for k, m in v.mounts.items() if k != self.container_id}

    @dataclass(frozen=True)
    class Removed(Event):
        TOPIC = f"{T}.Removed"

        def apply(self, v: Volume) -> None:
            v.removed = True

    if TYPE_CHECKING:
        name: str
        driver: str
        options: dict[str, str] | None
        labels: dict[str, str] | None
        anonymous: bool
        created_at: Any
        users: list[str]  # containers that reference it, in order
        # container id -> its mount while it runs (VolumeMount's fields: plain data, so
        # that snapshots hold it)
        mounts: dict[str, dict[str, Any]]
        removed: bool

    def begin(self, event: Created | Recreated) -> None:
        self.driver = event.driver
        self.options = None if event.options is None else dict(event.options)
        self.labels = None if event.labels is None else dict(event.labels)
        self.anonymous = event.anonymous
        self.created_at = event.timestamp
        self.users = []
        self.mounts = {}
        self.removed = False

    # Commands ----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        cause: Cause,
        *,
        driver: str = "",
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        fields = cls._validated(name, driver, options, labels, anonymous)
        volume: Volume = cls._start(volume_id(name), cls.Created, cause, name=name, **fields)
        return volume

    def recreate(
        self,
        cause: Cause,
        *,
        driver: str = "",
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> bool:
        """Create the removed volume of this name again; False (nothing recorded) when it
        exists, as dockerd answers the existing volume, whatever options were asked."""
        fields = self._validated(self.name, driver, options, labels, anonymous)
        if not self.removed:
            return False
        self._record(self.Recreated, cause, name=self.name, **fields)
        return True

    @staticmethod
    def _validated(
        name: str,
        driver: str,
        options: Mapping[str, str] | None,
        labels: Mapping[str, str] | None,
        anonymous: bool,
    ) -> dict[str, Any]:
        validate_volume_name(name)
        return {
            "driver": validate_driver(name, driver),
            "options": None if options is None else validate_local_options(name, options),
            "labels": None if labels is None else dict(labels),
            "anonymous": anonymous,
        }

    def _exists(self) -> None:
        if self.removed:
            raise no_such_volume(self.name)

    def reference(self, container_id: str, cause: Cause) -> bool:
        """A container that names the volume; False if it already did."""
        self._exists()
        if container_id in self.users:
            return False
        self._record(self.Referenced, cause, container_id=container_id)
        return True

    def release(self, container_id: str, cause: Cause) -> bool:
        """The container is removed; False (nothing recorded) if it was no user."""
        if self.removed or container_id not in self.users:
            return False
        self._record(self.Released, cause, container_id=container_id)
        return True

    def mount(self, container_id: str, mount: VolumeMount, cause: Cause) -> bool:
        """A user starts with the volume mounted; False if it is mounted for it already."""
        self._exists()
        if container_id not in self.users:
            raise Conflict(f"volume {self.name} is not used by container {container_id}")
        if container_id in self.mounts:
            return False
        self._record(
            self.Mounted,
            cause,
            container_id=container_id,
            destination=mount.destination,
            read_write=mount.read_write,
            propagation=mount.propagation,
        )
        return True

    def unmount(self, container_id: str, cause: Cause) -> bool:
        """A user stopped; False if it had not mounted the volume."""
        if self.removed or container_id not in self.mounts:
            return False
        self._record(self.Unmounted, cause, container_id=container_id)
        return True

    def remove(self, cause: Cause) -> None:
        """`volume rm`: refused while any container, running or not, references it."""
        self._exists()
        if self.users:
            raise volume_in_use(self.name, self.users)
        self._record(self.Removed, cause)
