"""Docker's events, read from the durable event log.

Nothing is kept in memory to overflow (moby keeps 256 events): a reader starts at a log
position (found from `since`) and follows the log, so a slow reader misses nothing and
history from before the daemon's last restart is there. `since` is a unix time, as the
docker CLI sends it, or a log position written `#N`, so a consumer resumes exactly where
it stopped (each event carries its position as `berth.position`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import trio

from berth.domain.container import Container
from berth.domain.exec import event_command

from ..store.events import EventStore, LoggedEvent
from .filters import label_matches
from .fleet import host_of
from .trail import container_at

FOLLOW_INTERVAL = 0.1
BATCH = 500

# berth event → Docker action, per aggregate. Intents with no Docker event are absent.
CONTAINER_ACTIONS = {
    "Created": "create",
    "Started": "start",
    "KillRequested": "kill",
    "Exited": "die",
    "ExitCodeUnknown": "die",
    "Paused": "pause",
    "Unpaused": "unpause",
    "Renamed": "rename",
    "Updated": "update",
    "ProcessesListed": "top",
    "Attached": "attach",
    "Detached": "detach",
    "Resized": "resize",
    "Removed": "destroy",
}
IMAGE_ACTIONS = {
    "Pulled": "pull",
    "Loaded": "load",
    "Reloaded": "load",
    "Tagged": "tag",
    "Untagged": "untag",
    "Deleted": "delete",
}
EXEC_ACTIONS = {
    "Created": "exec_create",
    "StartRequested": "exec_start",
    "Detached": "exec_detach",
    "Exited": "exec_die",
}
VOLUME_ACTIONS = {
    "Created": "create",
    "Recreated": "create",
    "Mounted": "mount",
    "Unmounted": "unmount",
    "Removed": "destroy",
}
NETWORK_ACTIONS = {
    "Created": "create",
    "Recreated": "create",
    "AddressAllocated": "connect",
    "AddressReleased": "disconnect",
    "Removed": "destroy",
}


@dataclass
class _Known:
    """What earlier events told us about a container: its name, image and labels."""

    name: str
    image: str
    labels: dict[str, str] = field(default_factory=dict)
    stopping: bool = False
    restarting: bool = False  # a `docker restart` whose start is still to come


# dockerd matches these by prefix ("health_status: healthy" is a health_status event).
_PREFIX_EVENTS = ("health_status", "exec_create", "exec_start")

# What dockerd matches by the start of an event's actor id or name, whatever the event
# (moby's events.Filter fuzzyMatchName): berth has no plugins, nodes, services, secrets or
# configs, so those filters let only an actor whose id or name they begin through.
_FUZZY_NAMED = ("network", "daemon", "plugin", "node", "service", "secret", "config")
# The keys EventFilters applies: dockerd's; any other is refused rather than ignored.
EVENT_FILTERS = ("type", "event", "container", "image", "label", "volume", "scope", *_FUZZY_NAMED)


@dataclass(frozen=True)
class EventFilters:
    """Docker's `filters` for /events: each key's values are OR-ed, keys AND-ed."""

    values: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def accepts(self, message: dict[str, Any]) -> bool:
        checks: dict[str, Callable[[str], bool]] = {
            "type": lambda v: message["Type"] == v,
            "event": lambda v: (
                message["Action"] == v or (v in _PREFIX_EVENTS and message["Action"].startswith(v))
            ),
            "container": lambda v: (
                message["Type"] == "container"
                and v
                in (
                    message["Actor"]["ID"],
                    message["Actor"]["ID"][:12],
                    message["Actor"]["Attributes"].get("name"),
                )
            ),
            "image": lambda v: (
                v in (message["Actor"]["Attributes"].get("image"), message["Actor"]["ID"])
            ),
            "label": lambda v: label_matches(message["Actor"]["Attributes"], v),
            "volume": lambda v: message["Type"] == "volume" and message["Actor"]["ID"] == v,
            "scope": lambda v: message.get("scope", "local") == v,
        }
        actor = message["Actor"]
        name = actor["Attributes"].get("name") or ""
        checks.update(
            dict.fromkeys(_FUZZY_NAMED, lambda v: actor["ID"].startswith(v) or name.startswith(v))
        )
        for key, wanted in self.values.items():
            check = checks.get(key)
            if check is None or not wanted:
                continue
            if not any(check(value) for value in wanted):
                return False
        return True


class EventSource(Protocol):
    """What the events are read from: the engine."""

    store: EventStore

    def now(self) -> datetime: ...

    def get_aggregate(self, aggregate_id: str) -> Any: ...


@dataclass(frozen=True)
class Bound:
    """A `since` or `until`: a log position, a time, or neither (not given)."""

    position: int | None = None
    time: datetime | None = None

    @property
    def given(self) -> bool:
        return self.position is not None or self.time is not None


class EventTranslator:
    """Turns logged events into Docker event messages, remembering names as it goes."""

    def __init__(self, source: EventSource) -> None:
        self._engine = source
        self._containers: dict[str, _Known] = {}
        self._volumes: dict[str, tuple[str, str]] = {}  # volume id -> name, driver
        self._execs: dict[str, tuple[str, str]] = {}  # exec id -> container id, command

    def _container(self, event: LoggedEvent) -> _Known:
        known = self._containers.get(event.originator_id)
        if known is None:
            if event.name == "Created":
                data = event.data
                labels = dict(data["config"].get("Labels") or {})
                known = _Known(data["name"].lstrip("/"), data["image"], labels)
            else:
                aggregate: Container = container_at(
                    self._engine.store, event.originator_id, version=event.version
                ) or self._engine.get_aggregate(event.originator_id)
                labels = dict(aggregate.config.get("Labels") or {})
                known = _Known(aggregate.name.lstrip("/"), aggregate.image, labels)
            self._containers[event.originator_id] = known
        return known

    def translate(self, event: LoggedEvent) -> list[dict[str, Any]]:
        if event.aggregate == "container":
            return self._container_messages(event)
        if event.aggregate == "image" and event.name in IMAGE_ACTIONS:
            tags = event.data.get("repo_tags") or []
            reference = str(
                event.data.get("reference") or (tags[0] if tags else event.originator_id)
            )
            action = IMAGE_ACTIONS[event.name]
            if event.data.get("source") == "import":
                action = "import"
            if event.data.get("source") == "commit":
                return self._commit_message(event, reference)
            return [_message("image", action, reference, {"name": reference}, event)]
        if event.aggregate == "exec" and event.name in EXEC_ACTIONS:
            return [self._exec_message(event)]
        if event.aggregate == "volume" and event.name in VOLUME_ACTIONS:
            return [self._volume_message(event)]
        if event.aggregate == "network" and event.name in NETWORK_ACTIONS:
            attributes = {"name": self._network_name(event), "type": "bridge"}
            if "container_id" in event.data:
                attributes = {"container": str(event.data["container_id"]), **attributes}
            return [
                _message(
                    "network", NETWORK_ACTIONS[event.name], event.originator_id, attributes, event
                )
            ]
        return []

    def _network_name(self, event: LoggedEvent) -> str:
        """dockerd's `name` attribute of a network event: the network's name."""
        data = event.data
        if "name" in data:
            return str(data["name"])
        if "settings" in data:
            return str(data["settings"]["name"])
        return str(self._engine.get_aggregate(event.originator_id).name)

    def _volume_message(self, event: LoggedEvent) -> dict[str, Any]:
        """Attributes as dockerd's: the driver; a mount's container, destination,
        read/write and propagation; an unmount's container."""
        data = event.data
        known = self._volumes.get(event.originator_id)
        if event.name in ("Created", "Recreated") or known is None:
            volume = None if data.get("name") else self._engine.get_aggregate(event.originator_id)
            name = str(data["name"]) if volume is None else volume.name
            known = (name, str(data.get("driver") or (volume.driver if volume else "")))
            self._volumes[event.originator_id] = known
        name, driver = known
        attributes = {"driver": driver}
        if event.name == "Mounted":
            attributes["container"] = str(data["container_id"])
            attributes["destination"] = str(data["destination"])
            attributes["read/write"] = "true" if data["read_write"] else "false"
            attributes["propagation"] = str(data["propagation"])
        if event.name == "Unmounted":
            attributes["container"] = str(data["container_id"])
        return _message("volume", VOLUME_ACTIONS[event.name], name, attributes, event)

    def _exec_message(self, event: LoggedEvent) -> dict[str, Any]:
        """dockerd reports an exec as its container's event: `exec_create: <cmd>`,
        `exec_start: <cmd>` and `exec_die`, each with the exec's id."""
        known_exec = self._execs.get(event.originator_id)
        if known_exec is None:
            data = event.data if event.name == "Created" else None
            if data is None:
                data = self._engine.get_aggregate(event.originator_id).__dict__
            command = event_command(str(data["entrypoint"]), [str(a) for a in data["arguments"]])
            known_exec = (str(data["container_id"]), command)
            self._execs[event.originator_id] = known_exec
        container_id, command = known_exec
        known = self._container_known(container_id)
        attributes: dict[str, str] = {**(known.labels if known else {}),
                                      "execID": event.originator_id}  # fmt: skip
        if known is not None:
            attributes.update(image=known.image, name=known.name)
        action = EXEC_ACTIONS[event.name]
        if event.name == "Exited":
            attributes["exitCode"] = str(event.data["exit_code"])
        if event.name in ("Created", "StartRequested"):
            action = f"{action}: {command}"
        image = known.image if known else None
        return _message("container", action, container_id, attributes, event, image)

    def _commit_message(self, event: LoggedEvent, reference: str) -> list[dict[str, Any]]:
        """dockerd reports a commit as the container's event, naming the new image."""
        config = event.data.get("config") or {}
        container_id = str(config.get("container") or "")
        known = self._container_known(container_id)
        attributes: dict[str, str] = {
            **(known.labels if known else {}),
            "comment": str(config.get("comment") or ""),
            "imageID": event.originator_id,
            "imageRef": reference if event.data.get("repo_tags") else "",
        }
        if known is not None:
            attributes.update(image=known.image, name=known.name)
        image = known.image if known else None
        return [_message("container", "commit", container_id, attributes, event, image)]

    def _container_known(self, container_id: str) -> _Known | None:
        if container_id in self._containers:
            return self._containers[container_id]
        if not container_id:
            return None
        try:
            aggregate = self._engine.get_aggregate(container_id)
        except Exception:  # a container the log does not know: no name
            return None
        labels = dict(aggregate.config.get("Labels") or {})
        return _Known(aggregate.name.lstrip("/"), aggregate.image, labels)

    def _container_messages(self, event: LoggedEvent) -> list[dict[str, Any]]:
        known = self._container(event)
        if event.name == "Renamed":
            old = known.name
            known.name = str(event.data["new_name"]).lstrip("/")
        if event.name == "StopRequested":
            known.stopping = True
        if event.name in ("RestartRequested", "StartFailed", "RemovalRequested"):
            known.restarting = event.name == "RestartRequested"
        base: dict[str, str] = {**known.labels, "image": known.image, "name": known.name}
        attributes = dict(base)
        messages = []

        def say(action: str, attributes: dict[str, str]) -> None:
            messages.append(
                _message("container", action, event.originator_id, attributes, event, known.image)
            )

        if event.name == "Exited" and event.data.get("oom_killed"):
            say("oom", base)  # dockerd reports the OOM kill before the exit it causes
        if event.name == "HealthStatusChanged":
            say(f"health_status: {event.data['status']}", attributes)
        if event.name == "Renamed":
            attributes["oldName"] = old
        if event.name == "KillRequested":
            attributes["signal"] = str(event.data["signal"])
        if event.name == "Resized":
            attributes.update(height=str(event.data["height"]), width=str(event.data["width"]))
        if event.name in ("Exited", "ExitCodeUnknown"):
            attributes["exitCode"] = str(event.data.get("exit_code", -1))
        if (action := CONTAINER_ACTIONS.get(event.name)) is not None:
            say(action, attributes)
        if event.name == "Started" and known.restarting:
            known.restarting = False
            say("restart", base)  # dockerd's `restart` follows the start it made
        if event.name in ("Exited", "ExitCodeUnknown") and known.stopping:
            known.stopping = False
            say("stop", base)
        return messages


def _message(
    kind: str,
    action: str,
    actor_id: str,
    attributes: dict[str, str],
    event: LoggedEvent,
    image: str | None = None,
) -> dict[str, Any]:
    stamp = event.timestamp
    nanos = int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000
    message: dict[str, Any] = {}
    if kind == "container":
        message.update(status=action, id=actor_id, **({"from": image} if image else {}))
    message.update(
        Type=kind,
        Action=action,
        Actor={"ID": actor_id, "Attributes": attributes},
        scope="local",
        time=nanos // 1_000_000_000,
        timeNano=nanos,
    )
    message["berth.position"] = event.position
    return message


async def stream_events(
    source: EventSource,
    since: Bound,
    until: Bound,
    filters: EventFilters,
    *,
    fleet: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Docker events from the log (this host's, or with `fleet` every host's, each naming its
    "Host"), oldest first; follows the log until `until` (if any)."""
    own_host = "" if fleet else source.store.host_id
    now = source.now
    since_position, since_time = since.position, since.time
    until_position, until_time = until.position, until.time
    if not since.given:
        # No `since`: only what happens from now on, as Docker.
        position = await trio.to_thread.run_sync(source.store.max_position)
    else:
        position = since_position or 0
    translator = EventTranslator(source)
    while True:
        batch = await trio.to_thread.run_sync(
            functools.partial(source.store.read_log, after=position, limit=BATCH)
        )
        for event in batch:
            position = event.position
            if until_position is not None and event.position > until_position:
                return
            if until_time is not None and event.timestamp > until_time:
                return
            if own_host and host_of(event) != own_host:
                continue
            messages = await trio.to_thread.run_sync(translator.translate, event)
            if since_time is not None and event.timestamp < since_time:
                continue
            for message in messages:
                if filters.accepts(message):
                    yield {**message, "Host": host_of(event)} if fleet else message
        if not batch:
            if until_time is not None and now() > until_time:
                return
            if until_position is not None and position >= until_position:
                return
            await trio.sleep(FOLLOW_INTERVAL)
