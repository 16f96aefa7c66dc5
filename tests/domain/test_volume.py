"""The Volume aggregate: names and options as volume/local takes them, references, mounts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.errors import Conflict, InvalidParameter, NotFound
from berth.domain.volume import (
    Volume,
    VolumeMount,
    needs_mount,
    validate_local_options,
    validate_volume_name,
    volume_id,
)

CAUSE = Cause(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), Actor(ActorKind.API), "req")
LATER = Cause(CAUSE.at + timedelta(hours=1), Actor(ActorKind.API), "req2")
MOUNT = VolumeMount("/data", True, "")


def cid(n: int) -> str:
    return f"{n:064x}"


def replayed(volume: Volume, previous: Volume | None = None) -> Volume:
    rebuilt: Any = previous
    for event in volume.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, Volume)
    return rebuilt


# Names and options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "a",
            "create a: volume name is too short, names should be at least two alphanumeric "
            "characters",
        ),
        (
            "/data",
            'create /data: "/data" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path",
        ),
    ],
)
def test_names_refused_with_dockerds_words(name: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        Volume.create(name, CAUSE)
    assert refused.value.message == message


@given(st.text(max_size=12))
def test_a_name_is_accepted_exactly_when_it_matches_dockers_pattern(name: str) -> None:
    valid = re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name) is not None
    try:
        validate_volume_name(name)
    except InvalidParameter:
        assert not valid
    else:
        assert valid


def test_the_id_is_the_names_so_a_name_has_one_volume() -> None:
    assert Volume.create("data", CAUSE).id == volume_id("data") != volume_id("data2")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"foo": "x"}, 'create v1: invalid option: "foo"'),
        ({"type": "tmpfs"}, 'create v1: missing required option: "device"'),
        ({"o": "size=1m", "device": "tmpfs"}, 'create v1: missing required option: "type"'),
        ({"size": "1m"}, "create v1: quota size requested but no quota support"),
    ],
)
def test_options_refused_as_volume_local_refuses_them(
    options: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        validate_local_options("v1", options)
    assert refused.value.message == message


def test_a_device_or_type_is_mounted_while_in_use() -> None:
    assert needs_mount({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    assert not needs_mount({}) and not needs_mount(None)


def test_another_driver_is_a_plugin_berth_has_not() -> None:
    with pytest.raises(NotFound, match='plugin "flocker" not found'):
        Volume.create("data", CAUSE, driver="flocker")


# Life ------------------------------------------------------------------------------------


def test_create_records_what_was_asked_and_replays() -> None:
    volume = Volume.create("data", CAUSE, options={}, labels={"a": "b"})
    rebuilt = replayed(volume)
    assert (rebuilt.name, rebuilt.driver, rebuilt.options, rebuilt.labels) == (
        "data",
        "local",
        {},
        {"a": "b"},
    )
    assert rebuilt.created_at == CAUSE.at and rebuilt.users == [] and not rebuilt.removed


def test_create_of_an_existing_name_records_nothing() -> None:
    volume = replayed(Volume.create("data", CAUSE))
    assert volume.recreate(LATER, options={"type": "tmpfs", "device": "tmpfs"}) is False
    assert volume.collect_events() == []


def test_a_removed_name_is_created_again_on_the_same_stream() -> None:
    volume = replayed(Volume.create("data", CAUSE, labels={"x": "1"}))
    volume.remove(CAUSE)
    assert volume.recreate(LATER) is True
    rebuilt = replayed(volume, replayed(Volume.create("data", CAUSE, labels={"x": "1"})))
    assert not rebuilt.removed and rebuilt.labels is None and rebuilt.created_at == LATER.at


def test_remove_refused_while_referenced_names_the_users() -> None:
    volume = Volume.create("data", CAUSE)
    volume.reference(cid(1), CAUSE)
    volume.reference(cid(2), CAUSE)
    with pytest.raises(Conflict) as refused:
        volume.remove(CAUSE)
    assert refused.value.message == f"remove data: volume is in use - [{cid(1)}, {cid(2)}]"


def test_commands_on_a_removed_volume_are_no_such_volume() -> None:
    volume = Volume.create("data", CAUSE)
    volume.remove(CAUSE)
    for command in (lambda: volume.remove(CAUSE), lambda: volume.reference(cid(1), CAUSE)):
        with pytest.raises(NotFound, match="get data: no such volume"):
            command()


# Stateful model ----------------------------------------------------------------------------

USERS = st.integers(min_value=0, max_value=4)


class VolumeMachine(RuleBasedStateMachine):
    """create/remove/reference/release/mount/unmount against a plain model; every state
    replays from its events."""

    def __init__(self) -> None:
        super().__init__()
        self.volume = Volume.create("data", CAUSE)
        self.events = list(self.volume.collect_events())
        self.exists = True
        self.users: list[int] = []
        self.mounted: set[int] = set()

    def _keep(self) -> None:
        self.events.extend(self.volume.collect_events())

    @rule()
    def create(self) -> None:
        assert self.volume.recreate(CAUSE) is (not self.exists)
        if not self.exists:
            self.exists, self.users, self.mounted = True, [], set()
        self._keep()

    @rule()
    def remove(self) -> None:
        if not self.exists:
            with pytest.raises(NotFound):
                self.volume.remove(CAUSE)
        elif self.users:
            with pytest.raises(Conflict):
                self.volume.remove(CAUSE)
        else:
            self.volume.remove(CAUSE)
            self.exists = False
        self._keep()

    @rule(n=USERS)
    def reference(self, n: int) -> None:
        if not self.exists:
            with pytest.raises(NotFound):
                self.volume.reference(cid(n), CAUSE)
        else:
            assert self.volume.reference(cid(n), CAUSE) is (n not in self.users)
            self.users = [*self.users, n] if n not in self.users else self.users
        self._keep()

    @rule(n=USERS)
    def release(self, n: int) -> None:
        assert self.volume.release(cid(n), CAUSE) is (self.exists and n in self.users)
        if n in self.users:
            self.users.remove(n)
            self.mounted.discard(n)
        self._keep()

    @precondition(lambda self: self.exists)
    @rule(n=USERS)
    def mount(self, n: int) -> None:
        if n not in self.users:
            with pytest.raises(Conflict):
                self.volume.mount(cid(n), MOUNT, CAUSE)
        else:
            assert self.volume.mount(cid(n), MOUNT, CAUSE) is (n not in self.mounted)
            self.mounted.add(n)
        self._keep()

    @rule(n=USERS)
    def unmount(self, n: int) -> None:
        assert self.volume.unmount(cid(n), CAUSE) is (self.exists and n in self.mounted)
        self.mounted.discard(n)
        self._keep()

    @invariant()
    def matches_the_model_and_its_replay(self) -> None:
        assert self.volume.removed is (not self.exists)
        if self.exists:
            assert self.volume.users == [cid(n) for n in self.users]
            assert set(self.volume.mounts) == {cid(n) for n in self.mounted}
        rebuilt: Any = None
        for event in self.events:
            rebuilt = event.mutate(rebuilt)
        assert rebuilt.__dict__ == self.volume.__dict__


VolumeMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestVolumeLife = VolumeMachine.TestCase
