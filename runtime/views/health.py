"""`State.Health` in the container views (ADR 0036): present once a container with a
health check has started; its status is the log's (`HealthStatusChanged`), its streak and
results are added by the API from the probes' side file."""

from __future__ import annotations

from typing import Any

from berth.domain.health import STARTING, probe_of


def started(doc: dict[str, Any]) -> None:
    """dockerd's initHealthMonitor: each run starts again `starting`."""
    if probe_of(doc["Config"]) is not None:
        doc["State"]["Health"] = {"Status": STARTING, "FailingStreak": 0, "Log": []}


def changed(doc: dict[str, Any], started_at: str, status: str) -> None:
    """A status the probes of the run that began at `started_at` found."""
    health = doc["State"].get("Health")
    if health is not None and doc["State"]["StartedAt"] == started_at:
        health["Status"] = status

