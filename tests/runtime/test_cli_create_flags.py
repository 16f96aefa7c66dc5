"""The create request `berth run`/`berth create` build from docker's storage flags, and
their flag errors (docker's: exit 125, the flag named), without a daemon."""

from __future__ import annotations

import os
from typing import Any

import click
import pytest
from click.testing import CliRunner

from berth.runtime.cli.create_body import create_body
from berth.runtime.cli.main import main
from berth.runtime.cli.run import create, run


def body_of(command: click.Command, *args: str) -> dict[str, Any]:
    """The body `command ARGS` would send to POST /containers/create."""
    with command.make_context(command.name or "", list(args)) as ctx:
        return create_body(ctx.params)


def test_storage_flags_build_dockers_request() -> None:
    body = body_of(
        run,
        "-v", "/srv/data:/data:ro",
        "--volume", "./here:/here",
        "-v", "/anon",
        "--mount", "type=bind,src=/etc,dst=/host-etc,readonly,bind-propagation=rslave",
        "--mount", "type=volume,src=cache,dst=/cache,volume-nocopy,volume-opt=type=tmpfs",
        "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=64m,tmpfs-mode=1777",
        "--tmpfs", "/run:size=64m,mode=1777",
        "--tmpfs", "/tmp",
        "--volumes-from", "db:ro",
        "--volumes-from", "web",
        "--read-only",
        "busybox", "-v", "--mount", "x",
    )  # fmt: skip
    host = body["HostConfig"]
    assert host["Binds"] == ["/srv/data:/data:ro", f"{os.getcwd()}/here:/here"]
    assert body["Volumes"] == {"/anon": {}}
    assert host["Mounts"] == [
        {
            "Type": "bind",
            "Source": "/etc",
            "Target": "/host-etc",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rslave"},
        },
        {
            "Type": "volume",
            "Source": "cache",
            "Target": "/cache",
            "VolumeOptions": {"NoCopy": True, "DriverConfig": {"Options": {"type": "tmpfs"}}},
        },
        {
            "Type": "tmpfs",
            "Target": "/scratch",
            "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777},
        },
    ]
    assert host["Tmpfs"] == {"/run": "size=64m,mode=1777", "/tmp": ""}
    assert host["VolumesFrom"] == ["db:ro", "web"]
    assert host["ReadonlyRootfs"] is True
    # After the image, everything is the command's.
    assert body["Cmd"] == ["-v", "--mount", "x"]


def test_without_storage_flags_nothing_is_asked() -> None:
    body = body_of(create, "busybox")
    host = body["HostConfig"]
    assert body["Volumes"] is None
    assert (host["Binds"], host["Mounts"], host["Tmpfs"], host["VolumesFrom"]) == (None,) * 4
    assert host["ReadonlyRootfs"] is False


@pytest.mark.parametrize("command", ["run", "create"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--no-such-option", "busybox"), "unknown flag: --no-such-option"),
        (("-y", "busybox"), "unknown shorthand flag: 'y' in -y"),
        (
            ("--mount", "type=bind,src=/a,dst=/b,bogus=1", "busybox"),
            'invalid argument "type=bind,src=/a,dst=/b,bogus=1" for "--mount" flag: '
            "unknown option 'bogus' in 'bogus=1'",
        ),
        (("--mount", "type=bind,dst=/b,volume-nocopy", "busybox"), "cannot mix 'volume-*'"),
    ],
)
def test_a_flag_error_exits_125_naming_it(
    command: str, args: tuple[str, ...], message: str
) -> None:
    # A socket nobody serves: the flags are refused before any connection is tried.
    result = CliRunner().invoke(main, ["-H", "unix:///nonexistent/berth.sock", command, *args])
    assert result.exit_code == 125, result.output
    assert message in result.output


def test_a_bad_volume_spec_exits_125_naming_it() -> None:
    result = CliRunner().invoke(
        main, ["-H", "unix:///nonexistent/berth.sock", "run", "-v", "/a::/b", "busybox"]
    )
    assert result.exit_code == 125, result.output
    assert "invalid spec: /a::/b: empty section between colons" in result.output
