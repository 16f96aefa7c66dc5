"""The create request of `berth create` and `berth run`, made from their options without
click: the click commands (cli/create.py parses the options) and the fast path
(cli/fast.py) send the same body.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from berth.domain.errors import InvalidParameter
from berth.domain.mount_flags import ram_in_bytes, tmpfs_flags, volume_flags

from .terminal import window_size

#: The health check's durations, in nanoseconds once parsed (cli/create_checks.py).
DURATIONS = ("health_interval", "health_timeout", "health_start_period")


def restart_policy(text: str) -> dict[str, Any]:
    """`--restart NAME[:RETRIES]` as Docker's RestartPolicy."""
    name, _, retries = text.partition(":")
    return {"Name": name, "MaximumRetryCount": int(retries or 0)}


def memory_swap(text: str | None) -> int:
    """`--memory-swap`: bytes, -1 for unlimited, 0 when not given."""
    return -1 if text == "-1" else (ram_in_bytes(text) if text else 0)


def create_body(options: dict[str, Any]) -> dict[str, Any]:
    env = list(options["env"])
    for env_file in options["env_file"]:
        for line in Path(env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                env.append(line.strip())
    memory = ram_in_bytes(options["memory"]) if options["memory"] else 0
    exposed, bindings = _published(options.get("publish") or ())
    binds, volumes = volume_flags(options.get("volume") or (), os.getcwd())
    config, host = check_body(options)
    return {
        **config,
        "Image": options["image"],
        "ExposedPorts": {key: {} for key in exposed} or None,
        "Cmd": list(options["command"]) or None,
        "Env": env or None,
        "Labels": dict(item.partition("=")[::2] for item in options["label"]),
        "WorkingDir": options["workdir"],
        "User": options["user"],
        "Hostname": options["hostname"],
        "Entrypoint": [options["entrypoint"]] if options["entrypoint"] else None,
        "StopSignal": options["stop_signal"],
        "StopTimeout": options["stop_timeout"],
        "Volumes": volumes or None,
        "Tty": options["tty"],
        "OpenStdin": options["interactive"],
        "MacAddress": options.get("mac_address") or "",
        "NetworkingConfig": _networking(options),
        "HostConfig": {
            "ConsoleSize": list(window_size() or (0, 0)) if options["tty"] else [0, 0],
            "RestartPolicy": restart_policy(options["restart"]),
            "NetworkMode": options["network"],
            "PortBindings": bindings or None,
            "PublishAllPorts": bool(options.get("publish_all")),
            "AutoRemove": options["auto_remove"],
            "Memory": memory,
            "MemorySwap": memory_swap(options["memory_swap"]),
            "NanoCpus": int((options["cpus"] or 0) * 1e9),
            "CpuShares": options["cpu_shares"],
            "PidsLimit": options["pids_limit"],
            "CapAdd": list(options["cap_add"]) or None,
            "CapDrop": list(options["cap_drop"]) or None,
            "Privileged": options["privileged"],
            "ReadonlyRootfs": options["read_only"],
            "Binds": binds or None,
            "Mounts": options.get("mount") or None,
            "Tmpfs": tmpfs_flags(options.get("tmpfs") or ()) or None,
            "VolumesFrom": list(options.get("volumes_from") or ()) or None,
            **host,
        },
    }


def _published(specs: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    if not specs:  # the parser is not on the fast path's imports (cli/fast.py)
        return [], {}
    from berth.domain.published_ports import parse_publish_all

    return parse_publish_all(specs)


def _networking(options: dict[str, Any]) -> dict[str, Any] | None:
    """--ip and --network-alias: the endpoint of the --network (docker's own rule: they
    need one, and the daemon says whether that network takes them)."""
    ip, aliases = options.get("ip") or "", list(options.get("network_alias") or ())
    if not ip and not aliases:
        return None
    endpoint = {"IPAMConfig": {"IPv4Address": ip} if ip else None, "Aliases": aliases or None}
    return {"EndpointsConfig": {options["network"] or "default": endpoint}}


def check_cidfile(cidfile: str | None) -> None:
    """docker's --cidfile refuses a file that exists: another container may own it."""
    if cidfile and os.path.exists(cidfile):
        raise InvalidParameter(
            "Container ID file found, make sure the other container isn't running "
            f"or delete {cidfile}"
        )


def check_body(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the options add to the request's Config and its HostConfig."""
    host: dict[str, Any] = {
        "LogConfig": {"Type": options["log_driver"], "Config": _log_opts(options)},
    }
    if options["init"]:
        host["Init"] = True
    health = _healthcheck(options)
    return ({"Healthcheck": health} if health is not None else {}), host


def _log_opts(options: dict[str, Any]) -> dict[str, str]:
    opts = dict(item.partition("=")[::2] for item in options["log_opt"])
    if options["log_driver"] == "none" and opts:
        raise InvalidParameter("invalid logging opts for driver none")
    return opts


def _healthcheck(options: dict[str, Any]) -> dict[str, Any] | None:
    durations = [options[name] for name in DURATIONS]
    configured = bool(options["health_cmd"]) or any(durations) or options["health_retries"]
    if options["no_healthcheck"]:
        if configured:
            raise InvalidParameter("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not configured:
        return None
    for name, value in zip(DURATIONS, durations, strict=True):
        if value < 0:
            raise InvalidParameter(f"--{name.replace('_', '-')} cannot be negative")
    if options["health_retries"] < 0:
        raise InvalidParameter("--health-retries cannot be negative")
    interval, timeout, start_period = durations
    return {
        "Test": ["CMD-SHELL", options["health_cmd"]] if options["health_cmd"] else None,
        "Interval": interval,
        "Timeout": timeout,
        "StartPeriod": start_period,
        "Retries": options["health_retries"],
    }
