"""What the dashboard may show is an allow-list: anything not listed stays hidden."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from berth.domain.cause import Actor, ActorKind
from berth.runtime.dashboard.disclosure import (
    DOCUMENT_FIELDS,
    EVENT_FIELDS,
    public_actor,
    public_details,
    public_document,
)

SECRET = "S3CR3T"


def test_a_document_keeps_its_lifecycle_only() -> None:
    document = {
        "Id": "a" * 64,
        "Name": "/web",
        "Created": "2026-11-28T12:00:00Z",
        "Image": "sha256:" + "b" * 64,
        "RestartCount": 1,
        "Path": SECRET,
        "Args": [SECRET],
        "State": {"Status": "exited", "ExitCode": 3, "Error": f"exec: {SECRET}: not found"},
        "Config": {
            "Image": "busybox",
            "Env": [f"P={SECRET}"],
            "Cmd": [SECRET],
            "Labels": {"a": SECRET},
        },
        "HostConfig": {"RestartPolicy": {"Name": "no"}, "Binds": [f"/{SECRET}:/x"]},
        "Mounts": [{"Source": SECRET}],
        "NewFieldOfTomorrow": SECRET,
    }
    shown = public_document(document)
    assert SECRET not in repr(shown)
    assert shown["State"] == {"Status": "exited", "ExitCode": 3}
    assert shown["Config"] == {"Image": "busybox"}
    assert shown["Name"] == "/web" and shown["RestartCount"] == 1
    assert set(shown) <= set(DOCUMENT_FIELDS)


@given(st.dictionaries(st.text(max_size=20), st.just(SECRET), max_size=10))
def test_event_fields_not_listed_are_left_out(data: dict[str, str]) -> None:
    shown = public_details({**data, "reason": SECRET, "rootfs": SECRET, "exit_code": 0})
    assert set(shown) <= EVENT_FIELDS
    assert shown["exit_code"] == 0


def test_an_actor_is_shown_without_its_command_line() -> None:
    actor = Actor(ActorKind.API, uid=1000, pid=42, command=f"docker run -e P={SECRET}")
    assert public_actor(actor) == {"kind": "api", "uid": 1000, "pid": 42}
    assert public_actor(None) is None
