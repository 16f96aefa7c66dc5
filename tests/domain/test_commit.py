"""The config of a committed image: `--change` instructions, the merge with the
container's config, and the child image (domain/commit.py); and which mount a container
path falls under (domain/container_paths.py)."""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.commit import check_changes, child_image, committed_config, is_engine_stub
from berth.domain.container_paths import clean_parts, mount_for
from berth.domain.errors import InvalidParameter
from berth.domain.mounts import MountPoint

CONTAINER = {
    "Hostname": "abc",
    "Image": "busybox",
    "Cmd": ["sh", "-c", "echo hi"],
    "Env": ["PATH=/bin", "KEEP=1"],
    "Labels": {"from": "container"},
    "WorkingDir": "/srv",
}


def test_no_change_keeps_the_container_config() -> None:
    config = committed_config(CONTAINER, None, [])
    assert config["Cmd"] == ["sh", "-c", "echo hi"]
    assert config["Env"] == ["PATH=/bin", "KEEP=1"]
    assert (config["Hostname"], config["Image"]) == ("abc", "busybox")


def test_each_change_instruction_as_dockerd_applies_it() -> None:
    changes = [
        'CMD ["echo", "hi"]',
        "ENV A=1 B='two words'",
        "ENV KEEP=2",
        "LABEL version=1.0 other=x",
        "EXPOSE 80 53/udp 8000-8001",
        "USER nobody",
        'VOLUME ["/data"]',
        "VOLUME /logs /cache",
        "WORKDIR sub",
        "STOPSIGNAL SIGINT",
        "ONBUILD run echo built",
    ]
    config = committed_config(CONTAINER, None, changes)
    assert config["Cmd"] == ["echo", "hi"]
    assert config["Env"] == ["PATH=/bin", "A=1", "B=two words", "KEEP=2"]
    assert config["Labels"] == {"from": "container", "version": "1.0", "other": "x"}
    assert set(config["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert config["User"] == "nobody"
    assert set(config["Volumes"]) == {"/data", "/logs", "/cache"}
    assert config["WorkingDir"] == "/srv/sub"
    assert config["StopSignal"] == "SIGINT"
    assert config["OnBuild"] == ["RUN echo built"]


def test_shell_forms_and_entrypoint_clears_an_earlier_cmd() -> None:
    assert committed_config(CONTAINER, None, ["CMD echo $HOME"])["Cmd"] == [
        "/bin/sh", "-c", "echo $HOME"]  # fmt: skip
    config = committed_config(CONTAINER, None, ['ENTRYPOINT ["/bin/top"]'])
    assert (config["Entrypoint"], config["Cmd"]) == (["/bin/top"], None)
    both = committed_config(CONTAINER, None, ['CMD ["-b"]', 'ENTRYPOINT ["/bin/top"]'])
    assert (both["Entrypoint"], both["Cmd"]) == (["/bin/top"], ["-b"])


def test_a_body_config_is_merged_with_the_container_config() -> None:
    config = committed_config(CONTAINER, {"Env": ["NEW=1"], "Labels": {"a": "b"}}, [])
    assert config["Env"] == ["NEW=1", "PATH=/bin", "KEEP=1"]
    assert config["Labels"] == {"a": "b", "from": "container"}
    assert config["Cmd"] == ["sh", "-c", "echo hi"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo no", "run is not a valid change command"),
        ("FROM busybox", "from is not a valid change command"),
        ("copy a b", "copy is not a valid change command"),
        ("HEALTHCHECK NONE", "healthcheck is not supported in a change by berth"),
        ("USER a b", "USER requires exactly one argument"),
        ("EXPOSE http", "Invalid containerPort: http"),
        ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE"),
        ("ENV", "ENV requires at least one argument"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ],
)
def test_a_bad_change_names_what_is_wrong(change: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        committed_config(CONTAINER, None, [change])
    assert refused.value.message == message


_WORD = st.text(string.ascii_letters + string.digits + "_-./", min_size=1, max_size=12)


@given(st.lists(st.tuples(st.sampled_from(["cmd", "env", "label", "user", "workdir"]), _WORD)))
def test_valid_changes_always_give_a_config(pairs: list[tuple[str, str]]) -> None:
    lines = [f"{name.upper()} {word}=x" if name in ("env", "label") else f"{name} {word}"
             for name, word in pairs]  # fmt: skip
    assert [command for command, _ in check_changes(lines)] == [name for name, _ in pairs]
    config = committed_config(CONTAINER, None, lines)
    assert config["Image"] == "busybox"


@given(st.text(max_size=60))
def test_any_change_text_is_a_config_or_a_400(text: str) -> None:
    with contextlib.suppress(InvalidParameter):
        committed_config(CONTAINER, None, [text])


def test_continuation_lines_and_comments() -> None:
    assert check_changes(["# a comment", "ENV A=1 \\", "  B=2", ""]) == [("env", "A=1  B=2")]


def test_the_child_image_appends_the_layer_and_a_history_entry() -> None:
    parent = {
        "architecture": "arm64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
        "history": [{"created": "2020-01-01T00:00:00Z"}],
    }
    image = child_image(
        parent, config={"Cmd": ["x"]}, container_config=CONTAINER, container_id="c" * 64,
        diff_id="sha256:" + "2" * 64, created="2026-01-01T00:00:00Z", author="me", comment="hi",
    )  # fmt: skip
    assert image["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    assert image["history"][-1] == {
        "created": "2026-01-01T00:00:00Z", "author": "me",
        "created_by": "sh -c echo hi", "comment": "hi",
    }  # fmt: skip
    assert (image["architecture"], image["container"], image["author"]) == ("arm64", "c" * 64, "me")
    empty = child_image(parent, config={}, container_config=CONTAINER, container_id="c" * 64,
                        diff_id=None, created="t")  # fmt: skip
    assert empty["rootfs"]["diff_ids"] == parent["rootfs"]["diff_ids"]  # type: ignore[index]
    assert empty["history"][-1]["empty_layer"] is True
    assert parent["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64]  # type: ignore[index]


def test_engine_stubs_are_empty_engine_mount_points_only() -> None:
    assert is_engine_stub("/etc/hosts", True)
    assert not is_engine_stub("/etc/hosts", False)
    assert not is_engine_stub("/etc/passwd", True)


def test_the_deepest_mount_holds_a_path() -> None:
    points = [
        MountPoint("bind", "/data", "/host/data"),
        MountPoint("volume", "/data/inner", "/vol/_data", name="v"),
        MountPoint("tmpfs", "/run"),
    ]
    assert mount_for(points, "/data/x/y") == (points[0], "x/y")
    assert mount_for(points, "/data/inner/../inner/z") == (points[1], "z")
    assert mount_for(points, "/data") == (points[0], "")
    assert mount_for(points, "/database") is None
    assert mount_for(points, "/../run/x") == (points[2], "x")
    assert clean_parts("/a/./b/../../../c") == ["c"]
