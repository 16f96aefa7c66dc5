"""One way to change the log: decide, save in one transaction, decide again on a conflict.

Every write of berth goes through `unit_of_work`: `decide` loads the aggregates it needs
afresh, applies the domain's commands (which refuse what Docker refuses, recording
nothing) and returns what it changed; they are saved in one transaction. When another
writer saved one of them first, the store refuses the save on its version check and the
whole decision is made again on what is there now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from berth.domain.aggregate import StrIdAggregate
from berth.domain.errors import Conflict

from .postgres import store_unavailable

MAX_ATTEMPTS = 20
Saved = TypeVar("Saved")


def unit_of_work(
    decide: Callable[[], Sequence[StrIdAggregate]],
    save: Callable[..., Saved],
    what: str,
    *,
    attempts: int = MAX_ATTEMPTS,
) -> Saved:
    """Save what `decide` changed; answers what `save` answers (where it went)."""
    for _ in range(attempts):
        try:
            changed = decide()
            return save(*changed)
        except IntegrityError:
            continue
        except Exception as error:  # a fleet's store away: a clear 503, nothing written
            unavailable = store_unavailable(error)
            if unavailable is None:
                raise
            raise unavailable from None
    raise Conflict(f"{what} kept changing under us")
