"""The container view and history follow the aggregate's state by the same table.

Any sequence of commands is given to a Container; what it records is folded into the
view (`fold`) and into history (`history_entries`), and the state each shows after every
event is the aggregate's.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain.container import Command, ContainerState, Go, decide
from berth.domain.errors import NotModified
from berth.runtime.store.events import LoggedEvent
from berth.runtime.views.containers import fold
from berth.runtime.views.trail import history_entries

from ..domain.factories import do, new_container


def logged(event: Any, position: int) -> LoggedEvent:
    data = {
        k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")
    }
    return LoggedEvent.of(
        position, event.originator_id, event.originator_version, event.TOPIC, data
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_view_and_history_show_the_aggregates_state(data: st.DataObject) -> None:
    container = new_container()
    log = [logged(e, 1) for e in container.collect_events()]
    states = [ContainerState.CREATED]
    for at in range(2, data.draw(st.integers(2, 40))):
        # Only what the table would record: each step is an event to fold.
        allowed = [c for c in Command if isinstance(decide(container.state, c), Go)]
        if not allowed:
            break
        try:
            do(container, data.draw(st.sampled_from(allowed)), at=at)
        except NotModified:  # a network outcome already recorded
            continue
        (event,) = container.collect_events()
        log.append(logged(event, len(log) + 1))
        states.append(container.state)

    row: dict[str, Any] | None = None
    for event, state in zip(log, states, strict=True):
        row = fold(row, event)
        if state is ContainerState.REMOVED:
            assert row is None
            break
        assert row is not None
        assert row["state"] == state.value
        assert row["doc"]["State"]["Status"] == state.docker_status
    shown = ContainerState.CREATED.value
    for entry, state in zip(history_entries(log), states, strict=True):
        shown = entry["changes"].get("state", {}).get("after", shown)
        assert shown == state.value
