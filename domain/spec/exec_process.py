"""The OCI `process` of an exec: the container's own, with the exec's command, user,
working dir, env and terminal (dockerd 20.10 ContainerExecStart + execSetPlatformOpt).

Pure: the container's process comes from its bundle, the user is resolved by the caller
(in the container's root) and `all_capabilities` is what the engine may hand out.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .builder import _cwd
from .users import ResolvedUser


def exec_process(
    container_process: Mapping[str, Any],
    args: Sequence[str],
    env: Sequence[str],
    working_dir: str,
    user: ResolvedUser,
    *,
    tty: bool,
    privileged: bool,
    all_capabilities: Sequence[str],
    console_size: Sequence[int] | None = None,
) -> dict[str, Any]:
    """rlimits, no_new_privileges, apparmor and selinux stay the container's; a
    privileged exec gets every capability (also inheritable), as dockerd."""
    process: dict[str, Any] = copy.deepcopy(dict(container_process))
    process["args"] = list(args)
    process["env"] = list(env)
    process["cwd"] = _cwd(working_dir)
    process["terminal"] = tty
    process["user"] = user.to_oci()
    if privileged:
        caps = list(all_capabilities)
        process["capabilities"] = {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
            "inheritable": caps,
        }
        process.pop("apparmorProfile", None)
    if tty and console_size:
        height, width = console_size
        process["consoleSize"] = {"height": height, "width": width}
    else:
        process.pop("consoleSize", None)
    return process
