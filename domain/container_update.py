"""`docker update`: the resources and restart policy of a container changed after create.

As dockerd 20.10 (daemon/update.go, container.UpdateContainer): the request is checked
as a create's host config is (resource ranges, the restart policy, berth's table of
what it applies), then each field given a non-zero value replaces the container's, with
dockerd's refusals of conflicting updates as "Cannot update container <id>: ...". The
answer is the changed fields, as Docker names them; what is not changed is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import Config, HostConfig
from .errors import InvalidParameter
from .settings import verify_update_settings
from .settings_support import SETTINGS, unsupported_message

#: Docker's `container.Resources`, the fields an UpdateConfig carries besides RestartPolicy.
RESOURCES = (
    "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
    "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules",
    "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "MemoryReservation", "MemorySwap",
    "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent",
    "IOMaximumIOps", "IOMaximumBandwidth",
)  # fmt: skip
#: What dockerd's UpdateContainer changes (the rest of Resources it drops silently, which
#: berth refuses instead: never stored and ignored).
UPDATED = (
    "BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus",
    "CpusetMems", "Memory", "MemorySwap", "MemoryReservation", "KernelMemory",
    "CpuRealtimePeriod", "CpuRealtimeRuntime", "PidsLimit",
)  # fmt: skip
_FLAGS = {s.field: s.flag for s in SETTINGS if s.owner is HostConfig}
_CONFLICTS = (
    ("NanoCpus", "CpuPeriod", "Nano CPUs cannot be updated as CPU Period has already been set"),
    ("NanoCpus", "CpuQuota", "Nano CPUs cannot be updated as CPU Quota has already been set"),
    ("CpuPeriod", "NanoCpus", "CPU Period cannot be updated as NanoCPUs has already been set"),
    ("CpuQuota", "NanoCpus", "CPU Quota cannot be updated as NanoCPUs has already been set"),
)


def _given(value: Any) -> bool:
    return value not in (None, 0, "", False) and value != [] and value != {}


def plan_update(
    container_id: str, current: Mapping[str, Any], body: Any
) -> tuple[dict[str, Any], list[str]]:
    """The fields `body` (an UpdateConfig) changes in the host config `current`, and
    dockerd's warnings; Docker's 400 for what it refuses."""
    if not isinstance(body, dict):
        raise InvalidParameter("invalid update: expected a JSON object")
    given = {key: body[key] for key in (*RESOURCES, "RestartPolicy") if key in body}
    update = HostConfig.from_docker(given)
    doc = update.to_docker()
    for field in RESOURCES:
        if field not in UPDATED and _given(doc.get(field)):
            raise InvalidParameter(unsupported_message(field, _FLAGS.get(field, "API only")))
    warnings = verify_update_settings(Config(), update)

    def cannot(reason: str) -> InvalidParameter:
        return InvalidParameter(f"Cannot update container {container_id}: {reason}")

    for wanted, present, reason in _CONFLICTS:
        if _given(doc.get(wanted)) and _given(current.get(present)):
            raise cannot(f"Conflicting options: {reason}")
    changes = {f: doc[f] for f in UPDATED if (doc[f] is not None if f == "PidsLimit" else doc[f])}
    swap = int(current.get("MemorySwap") or 0)
    if "Memory" in changes and "MemorySwap" not in changes and 0 < swap < changes["Memory"]:
        raise cannot(
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time"
        )
    if update.restart_policy.name:
        if current.get("AutoRemove") and update.restart_policy.name != "no":
            raise cannot(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        changes["RestartPolicy"] = doc["RestartPolicy"]
    return changes, warnings
