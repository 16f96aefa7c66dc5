"""What `--root`, `--store` and `--host-id` mean, without click: `berth` reads them with
click (root_option.py), `berthd` with argparse (daemon.py), which keeps click out of the
daemon's memory (ADR/0048)."""

from __future__ import annotations

from pathlib import Path

# The engine's DEFAULT_ROOT, not imported from it: the engine is heavy to import.
DEFAULT_ROOT = "/var/lib/berth"
ROOT_HELP = "State directory (events.db, projections.db)."
STORE_HELP = (
    "Event store: postgresql://user@host:port/dbname, shared by a fleet of hosts "
    "[default: SQLite, events.db under --root]."
)
HOST_ID_HELP = "Who this host is in a fleet's store [default: /etc/machine-id]."

MACHINE_ID = Path("/etc/machine-id")


def default_host_id() -> str:
    """The machine's id, as the fleet knows this host unless told otherwise."""
    try:
        return MACHINE_ID.read_text().strip() or "localhost"
    except OSError:
        return "localhost"


def store_url(value: str | None) -> str | None:
    """None for SQLite under --root (absent, or any sqlite: URL); a postgresql:// URL.
    Anything else is a ValueError saying what is expected."""
    if value is None or value.startswith("sqlite:"):
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("postgresql://[user[:password]@]host[:port]/dbname or sqlite:")
    return value
