"""Property-based fuzzing of every route berthd registers (the strategies: fuzzing.py).

A few hundred requests here; bench/fuzz_api.py sends 10,000 and measures /_ping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import Berthd
from .fuzzing import ROUTES, Outcome, Stage, call, run_route

# Each route's handler must answer at least one draw (asserted below); four draws a route
# keep the whole API within two minutes of the suite as routes are added.
EXAMPLES_PER_ROUTE = 4
UNROUTED = ("page not found", "client version")


def describe(outcome: Outcome) -> str:
    drawn = outcome.drawn
    return (
        f"{outcome.status} {drawn.method} {drawn.target[:300]!r} body={drawn.body[:200]!r} "
        f"events={outcome.refused_events} {outcome.message[:200]}"
    )


def test_no_route_answers_5xx_hangs_or_records_a_refused_request(
    start_berthd: Callable[..., Berthd], tmp_path: Path
) -> None:
    daemon = start_berthd()
    stage = Stage(daemon.socket, daemon.root, tmp_path / "busybox.tar")
    violations: list[str] = []
    handled: dict[str, int] = {}
    for route in ROUTES:
        key = f"{route.method} {route.template}"
        handled[key] = 0

        def seen(outcome: Outcome, key: str = key) -> None:
            if outcome.violation:
                violations.append(describe(outcome))
            if not any(text in outcome.message for text in UNROUTED):
                handled[key] += 1  # the route's handler answered, not the router

        run_route(stage, route, EXAMPLES_PER_ROUTE, seen)
    assert violations == []
    assert [key for key, count in handled.items() if count == 0] == []
    assert call(daemon.socket, "GET", "/_ping").status == 200
