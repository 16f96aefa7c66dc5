"""`docker stats`' table row from a StatsJSON, computed as the docker CLI computes it."""

from __future__ import annotations

from typing import Any

from .render import human_size

HEADERS = [
    *("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %"),
    *("NET I/O", "BLOCK I/O", "PIDS"),
]


def cpu_percent(doc: dict[str, Any]) -> float:
    now, before = doc["cpu_stats"], doc["precpu_stats"]
    cpu_delta = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
    system_delta = now.get("system_cpu_usage", 0) - before.get("system_cpu_usage", 0)
    cpus = now.get("online_cpus") or len(now["cpu_usage"].get("percpu_usage") or ())
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return float(cpu_delta / system_delta * cpus * 100)


def memory_used(memory: dict[str, Any]) -> int:
    """Usage less the inactive page cache (cgroup v1's total_inactive_file, v2's
    inactive_file), as the docker CLI shows it."""
    usage = int(memory.get("usage", 0))
    stats = memory.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return usage - cache if cache < usage else usage


def stats_row(doc: dict[str, Any]) -> list[str]:
    memory = doc["memory_stats"]
    used, limit = memory_used(memory), int(memory.get("limit", 0))
    networks = (doc.get("networks") or {}).values()
    received = sum(n["rx_bytes"] for n in networks)
    sent = sum(n["tx_bytes"] for n in networks)
    read = written = 0
    for entry in doc["blkio_stats"].get("io_service_bytes_recursive") or ():
        op = str(entry["op"]).lower()
        read += entry["value"] if op == "read" else 0
        written += entry["value"] if op == "write" else 0
    return [
        doc["id"][:12],
        doc["name"].lstrip("/"),
        f"{cpu_percent(doc):.2f}%",
        f"{human_size(used, binary=True)} / {human_size(limit, binary=True)}",
        f"{used / limit * 100 if limit else 0:.2f}%",
        f"{human_size(received)} / {human_size(sent)}",
        f"{human_size(read)} / {human_size(written)}",
        str(doc["pids_stats"].get("current", 0)),
    ]
