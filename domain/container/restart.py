"""Docker's restart policies: whether, and after what delay, an exited container restarts.

The back-off is dockerd's: 100 ms doubling with every restart up to one minute, back to
100 ms once the container ran for 10 s. A container stopped by hand (stop, kill) is not
restarted by any policy until it is started again, as dockerd; `always` ones come back at
the daemon's next boot, `unless-stopped` ones do not.
"""

from __future__ import annotations

from .aggregate import Container

BACKOFF_START_MS = 100
BACKOFF_MAX_MS = 60_000
BACKOFF_RESET_S = 10


def policy_name(container: Container) -> str:
    return str((container.host_config.get("RestartPolicy") or {}).get("Name") or "no")


def restart_delay_ms(container: Container) -> int | None:
    """The delay before the policy restarts this exited container; None: no restart."""
    policy = container.host_config.get("RestartPolicy") or {}
    name = policy_name(container)
    if name == "no" or container.manually_stopped:
        return None
    if name == "on-failure":
        if container.exit_code == 0:
            return None
        limit = int(policy.get("MaximumRetryCount") or 0)
        if limit and container.restart_count >= limit:
            return None
    ran = (
        (container.finished_at - container.started_at).total_seconds()
        if container.finished_at and container.started_at
        else 0
    )
    if ran >= BACKOFF_RESET_S:
        return BACKOFF_START_MS
    backoff: int = BACKOFF_START_MS * 2**container.restart_count
    return min(backoff, BACKOFF_MAX_MS)


def restart_on_exit_ms(container: Container) -> int | None:
    """The policy's delay for a container whose exit has just been recorded; None when
    something else follows the exit: auto-remove, or the start of a `docker restart`."""
    if container.host_config.get("AutoRemove") or container.restart_after_exit:
        return None
    return restart_delay_ms(container)


def starts_on_boot(container: Container) -> bool:
    """dockerd starts `always` containers at boot, `unless-stopped` ones unless stopped;
    a container that never ran stays created."""
    if container.started_at is None:
        return False
    name = policy_name(container)
    return name == "always" or (name == "unless-stopped" and not container.manually_stopped)
