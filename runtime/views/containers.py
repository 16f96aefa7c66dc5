"""The container views: Docker's inspect document and its row, folded from events.

`fold` is pure and is the only code that turns container events into a document: the
incremental projection, a rebuild from scratch and `inspect --at` (time travel) all call
it, so the three cannot disagree.
"""

from __future__ import annotations

import copy
from typing import Any

from berth.domain.container import LIVE_STATES, ContainerState, short_id, state_after
from berth.domain.mounts import mount_points_of
from berth.domain.spec.defaults import MASKED_PATHS, READONLY_PATHS

from ..store.events import LoggedEvent
from . import health
from .timefmt import ZERO_TIME, docker_time

Row = dict[str, Any]


def _endpoint() -> dict[str, Any]:
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
    }


def _network_settings(network_mode: str, asked: dict[str, Any] | None = None) -> dict[str, Any]:
    """Before a start: the network of its mode, with what its endpoint config asks."""
    mode = "bridge" if network_mode in ("", "default") else network_mode
    config = ((asked or {}).get("EndpointsConfig") or {}).get(network_mode) or {}
    configured = {k: config.get(k) for k in _CONFIGURED_FIELDS if config.get(k)}
    networks = {} if mode.startswith("container:") else {mode: {**_endpoint(), **configured}}
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SandboxKey": "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": networks,
    }


# Endpoint fields shown both at the top of NetworkSettings and under Networks.<name>.
_ENDPOINT_FIELDS = ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress")


def _connect(doc: dict[str, Any], network_id: str, name: str, endpoint: dict[str, Any]) -> None:
    settings = doc["NetworkSettings"]
    shown = {k: endpoint.get(k, _endpoint()[k]) for k in _ENDPOINT_FIELDS}
    settings.update(shown, SandboxKey=endpoint.get("SandboxKey", ""))
    settings["Ports"] = copy.deepcopy(endpoint.get("Ports") or {})
    settings["Networks"][name] = {**_endpoint(), **shown, "NetworkID": network_id}
    for each, recorded in (endpoint.get("Networks") or {}).items():
        settings["Networks"][each] = _public(recorded)
    for key in ("HostsPath", "HostnamePath", "ResolvConfPath"):
        doc[key] = endpoint.get(key, doc[key])


def _disconnect(doc: dict[str, Any]) -> None:
    """As dockerd after a stop: the addresses and ports go, the network stays listed."""
    settings = doc["NetworkSettings"]
    settings.update({k: _endpoint()[k] for k in _ENDPOINT_FIELDS}, SandboxKey="", Ports={})
    for name, endpoint in settings["Networks"].items():
        settings["Networks"][name] = {
            **_endpoint(),
            **{k: endpoint.get(k) for k in _CONFIGURED_FIELDS},
            "NetworkID": endpoint.get("NetworkID", ""),
        }


# What a stop keeps of an endpoint (dockerd's cleanOperationalData clears the rest).
_CONFIGURED_FIELDS = ("IPAMConfig", "Links", "Aliases", "DriverOpts")


def _public(recorded: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as inspect shows it, without berth's own fields (HostVeth...)."""
    return {k: copy.deepcopy(recorded.get(k, v)) for k, v in _endpoint().items()}


def fold_network_event(row: Row, event: LoggedEvent) -> Row:
    """A network's event about this container: joined or left (`network connect` and
    `disconnect`), or an endpoint set up while it runs."""
    data = event.data
    networks = row["doc"]["NetworkSettings"]["Networks"]
    name = str(data.get("network_name") or "")
    match event.name:
        case "EndpointJoined" if name:
            config = data.get("config") or {}
            networks[name] = {
                **_endpoint(),
                "IPAMConfig": config.get("IPAMConfig"),
                "Aliases": config.get("Aliases"),
                "MacAddress": config.get("MacAddress") or "",
                "NetworkID": event.originator_id,
            }
        case "EndpointAttached":
            networks[name] = _public(data["endpoint"])
        case "EndpointLeft" if name:
            networks.pop(name, None)
    return row


def _path_and_args(config: dict[str, Any]) -> tuple[str, list[str]]:
    argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    return (argv[0], argv[1:]) if argv else ("", [])


def _created(event: LoggedEvent) -> Row:
    data = event.data
    config = copy.deepcopy(data["config"])
    host_config = copy.deepcopy(data["host_config"])
    if not host_config.get("Privileged"):
        # As dockerd fills them in at create: the paths masked and read-only by default.
        if host_config.get("MaskedPaths") is None:
            host_config["MaskedPaths"] = list(MASKED_PATHS)
        if host_config.get("ReadonlyPaths") is None:
            host_config["ReadonlyPaths"] = list(READONLY_PATHS)
    path, args = _path_and_args(config)
    doc = {
        "Id": event.originator_id,
        "Created": docker_time(event.timestamp),
        "Path": path,
        "Args": args,
        "State": {
            "Status": "created",
            "Running": False,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": 0,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": ZERO_TIME,
            "FinishedAt": ZERO_TIME,
        },
        "Image": data["image_id"],
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": "",
        "Name": data["name"],
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config,
        "GraphDriver": {"Data": None, "Name": "overlay2"},
        "Mounts": [point.to_docker() for point in mount_points_of(data.get("mounts"))],
        "Config": config,
        "NetworkSettings": _network_settings(
            str(host_config.get("NetworkMode") or ""), data.get("networking_config")
        ),
    }
    return {
        "id": event.originator_id,
        "name": data["name"],
        "state": ContainerState.CREATED.value,
        "has_run": False,
        "version": event.version,
        "position": event.position,
        "created_position": event.position,
        "doc": doc,
    }


def fold(row: Row | None, event: LoggedEvent) -> Row | None:
    """The container row after `event`; None once the container is removed.

    Events at or below the row's version are ignored, so re-delivery is harmless.
    """
    if event.aggregate == "network":
        return None if row is None else fold_network_event(row, event)
    if event.name == "Created":
        return _created(event)
    if row is None or event.version <= row["version"]:
        return row
    state = ContainerState(row["state"])
    new_state = state_after(event.name, state, row["has_run"])
    doc = row["doc"]
    status = doc["State"]
    data = event.data
    match event.name:
        case "Started":
            status.update(Pid=data["pid"], StartedAt=docker_time(data["started_at"]), Error="")
            row["has_run"] = True
            health.started(doc)
        case "HealthStatusChanged":
            health.changed(doc, docker_time(data["started_at"]), data["status"])
        case "StartFailed":
            status.update(Error=data["reason"], ExitCode=data["exit_code"])
        case "PrepareFailed":
            status.update(Error=data["reason"])
        case "Exited":
            status.update(
                Pid=0,
                ExitCode=data["exit_code"],
                OOMKilled=data["oom_killed"],
                FinishedAt=docker_time(data["finished_at"]),
            )
        case "ExitCodeUnknown":
            status.update(
                Pid=0,
                ExitCode=-1,
                Error=data["reason"],
                FinishedAt=docker_time(data["finished_at"]),
            )
        case "RestartScheduled":
            doc["RestartCount"] = data["restart_count"]
        case "Renamed":
            doc["Name"] = row["name"] = data["new_name"]
        case "Updated":
            doc["HostConfig"].update(copy.deepcopy(data["host_config"]))
        case "NetworkConnected":
            _connect(doc, data["network_id"], data["network_name"], data["endpoint"])
        case "NetworkDisconnected":
            _disconnect(doc)
        case "Removed":
            return None
    status.update(
        Status=new_state.docker_status,
        # dockerd counts a container waiting for its policy's restart as running.
        Running=new_state in LIVE_STATES or new_state is ContainerState.RESTARTING,
        Paused=new_state is ContainerState.PAUSED,
        Restarting=new_state is ContainerState.RESTARTING,
        Dead=new_state is ContainerState.DEAD,
    )
    row["state"] = new_state.value
    row["version"] = event.version
    row["position"] = event.position
    return row


def short(row: Row) -> str:
    return short_id(row["id"])
