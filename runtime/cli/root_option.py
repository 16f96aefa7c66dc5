"""`--root`, shared by `berth` and `berthd` without berthd loading berth's commands."""

from __future__ import annotations

from pathlib import Path

import click

# The engine's DEFAULT_ROOT, not imported from it: the engine is heavy to import.
DEFAULT_ROOT = "/var/lib/berth"

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_ROOT",
    default=DEFAULT_ROOT,
    show_default=True,
    help="State directory (events.db, projections.db).",
)
