"""The Exec aggregate and the exec create body: dockerd 20.10's rules and shapes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.container import ContainerState
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotModified
from berth.domain.exec import (
    START_FAILED_EXIT_CODE,
    Exec,
    ExecSettings,
    check_can_exec,
    event_command,
    exec_env,
)
from berth.domain.spec.exec_process import exec_process
from berth.domain.spec.users import ResolvedUser

CAUSE = Cause(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), Actor(ActorKind.API), "req")
CONTAINER = "c" * 64
EXEC = "e" * 64

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["Cmd", "User", "WorkingDir", "Env", "Privileged", "Tty", "AttachStdin",
          "AttachStdout", "AttachStderr", "DetachKeys", "ConsoleSize"]  # fmt: skip


@given(st.dictionaries(st.sampled_from(FIELDS), json_values) | json_values)
def test_any_body_is_settings_or_a_400(body: Any) -> None:
    try:
        settings = ExecSettings.from_docker(body)
    except InvalidParameter:
        return
    assert settings.cmd and all(isinstance(arg, str) for arg in settings.cmd)


@given(st.lists(st.text(min_size=1), min_size=1), st.sampled_from(["detachkeys", "DETACHKEYS"]))
def test_keys_match_as_go_decodes_them_case_insensitively(cmd: list[str], key: str) -> None:
    settings = ExecSettings.from_docker({"cmd": cmd, key: "ctrl-a"})
    assert settings.cmd == tuple(cmd) and settings.detach_keys == "ctrl-a"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Cmd": []}, "No exec command specified"),
        ({}, "No exec command specified"),
        ({"Cmd": ["sh"], "DetachKeys": "ctrl-"}, "Invalid escape keys (ctrl-) provided"),
        ({"Cmd": "sh"}, "json: cannot unmarshal str into Go struct field ExecConfig.Cmd"),
    ],
)
def test_dockerds_400s(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        ExecSettings.from_docker(body)
    assert refused.value.message.startswith(message)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (ContainerState.PAUSED, "Container web is paused, unpause the container before exec"),
        (ContainerState.EXITED, f"Container {CONTAINER} is not running"),
        (ContainerState.CREATED, f"Container {CONTAINER} is not running"),
        (ContainerState.RESTARTING, f"Container {CONTAINER} is restarting, wait until the "
                                    "container is running"),
    ],
)  # fmt: skip
def test_exec_needs_a_running_container(state: ContainerState, message: str) -> None:
    with pytest.raises(Conflict) as refused:
        check_can_exec(state, CONTAINER, "web")
    assert refused.value.message == message
    check_can_exec(ContainerState.RUNNING, CONTAINER, "web")
    check_can_exec(ContainerState.STOPPING, CONTAINER, "web")


def _exec(**body: Any) -> Exec:
    settings = ExecSettings.from_docker({"Cmd": ["sh", "-c", "exit 7"], **body})
    return Exec.create(EXEC, CONTAINER, settings, "app", "/srv", CAUSE)


def test_lifecycle_and_inspect_as_dockerd() -> None:
    exec_ = _exec(DetachKeys="ctrl-p,ctrl-q", AttachStdout=True)
    assert (exec_.user, exec_.working_dir) == ("app", "/srv")  # the container's
    assert exec_.inspect()["ExitCode"] is None and not exec_.in_flight
    exec_.request_start(False, CAUSE)
    with pytest.raises(Conflict, match="is already running"):
        exec_.request_start(False, CAUSE)
    exec_.mark_started(42, CAUSE)
    shown = exec_.inspect()
    assert (shown["Running"], shown["Pid"], shown["ExitCode"]) == (True, 42, None)
    assert shown["ProcessConfig"] == {
        "tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 7"],
        "privileged": False, "user": "app",
    }  # fmt: skip
    assert base64.b64decode(shown["DetachKeys"]) == b"\x10\x11"
    exec_.mark_exited(7, CAUSE)
    with pytest.raises(NotModified):
        exec_.mark_exited(7, CAUSE)
    assert (exec_.inspect()["Running"], exec_.inspect()["ExitCode"]) == (False, 7)
    with pytest.raises(Conflict, match="has already run"):
        exec_.request_start(False, CAUSE)
    names = [type(e).__name__ for e in exec_.collect_events()]
    assert names == ["Created", "StartRequested", "Started", "Exited"]


def test_a_start_that_fails_ends_with_126() -> None:
    exec_ = _exec()
    exec_.request_start(True, CAUSE)
    exec_.mark_start_failed("OCI runtime exec failed: x: unknown", CAUSE)
    assert exec_.exit_code == START_FAILED_EXIT_CODE == 126 and not exec_.in_flight


def test_event_command_is_dockerds_text() -> None:
    assert event_command("sh", ["-c", "exit 7"]) == "sh -c exit 7"
    assert event_command("true", []) == "true "


def test_env_is_the_containers_with_the_execs_on_top() -> None:
    container = ["PATH=/bin", "HOSTNAME=h", "A=container"]
    assert exec_env(container, ["A=exec", "B=1"], tty=False) == [
        "PATH=/bin", "HOSTNAME=h", "A=exec", "B=1"
    ]  # fmt: skip
    assert exec_env(container, [], tty=True)[-1] == "TERM=xterm"
    assert exec_env([*container, "TERM=vt100"], [], tty=True)[-1] == "TERM=vt100"


def test_process_is_the_containers_with_the_execs_settings() -> None:
    caps = {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}
    container = {"args": ["sleep"], "cwd": "/", "terminal": False, "capabilities": caps,
                 "noNewPrivileges": True, "rlimits": [{"type": "RLIMIT_NOFILE"}]}  # fmt: skip
    user = ResolvedUser(uid=1000, gid=1000)
    plain = exec_process(container, ["id"], ["A=1"], "/tmp", user, tty=False, privileged=False,
                         all_capabilities=["CAP_CHOWN", "CAP_SYS_ADMIN"])  # fmt: skip
    assert plain["args"] == ["id"] and plain["cwd"] == "/tmp" and plain["env"] == ["A=1"]
    assert plain["user"] == {"uid": 1000, "gid": 1000} and plain["capabilities"] == caps
    assert plain["noNewPrivileges"] is True and plain["rlimits"] == container["rlimits"]
    privileged = exec_process(container, ["id"], [], "", user, tty=True, privileged=True,
                              all_capabilities=["CAP_CHOWN", "CAP_SYS_ADMIN"],
                              console_size=[30, 90])  # fmt: skip
    assert privileged["capabilities"]["effective"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert privileged["cwd"] == "/" and privileged["terminal"] is True
    assert privileged["consoleSize"] == {"height": 30, "width": 90}
    assert container["capabilities"] is caps  # the container's own spec is left alone
    with pytest.raises(BerthError):
        exec_process(container, ["id"], [], "relative", user, tty=False, privileged=False,
                     all_capabilities=[])  # fmt: skip
