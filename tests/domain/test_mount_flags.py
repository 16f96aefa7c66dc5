"""The docker CLI's -v, --mount and --tmpfs read into a create request (domain/mount_flags),
with the docker CLI's results and messages (docker/cli opts/mount_test.go and
internal/volumespec)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import HostConfig, Mount
from berth.domain.errors import InvalidParameter
from berth.domain.mount_flags import parse_mount, ram_in_bytes, tmpfs_flags, volume_flags
from berth.domain.settings_rules import parse_bind

CWD = "/home/user/project"


@pytest.mark.parametrize(
    ("specs", "binds", "volumes"),
    [
        (["/data:/data"], ["/data:/data"], {}),
        (["/data:/data:ro"], ["/data:/data:ro"], {}),
        (["/srv:/srv:ro,Z,rslave"], ["/srv:/srv:ro,Z,rslave"], {}),
        (["cache:/cache:nocopy"], ["cache:/cache:nocopy"], {}),
        (["/anon"], [], {"/anon": {}}),
        (["./here:/here", "../up:/up:rw"], [f"{CWD}/here:/here", "/home/user/up:/up:rw"], {}),
        (["~/x:/x"], ["~/x:/x"], {}),  # the CLI leaves ~ to the daemon
        (["/a:/a", "/a:/a", "/b", "/b"], ["/a:/a"], {"/b": {}}),
        (["ab"], [], {"ab": {}}),
    ],
)
def test_volume_flags_split_binds_from_anonymous_volumes(
    specs: list[str], binds: list[str], volumes: dict[str, Any]
) -> None:
    assert volume_flags(specs, CWD) == (binds, volumes)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid empty volume spec"),
        ("/a::/b", "invalid spec: /a::/b: empty section between colons"),
        ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
        (":/b", "invalid spec: :/b: empty section between colons"),
    ],
)
def test_volume_flags_refuse_what_the_cli_refuses(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        volume_flags([spec], CWD)
    assert refused.value.message == message


@given(
    source=st.from_regex(r"/[a-z]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True),
    target=st.from_regex(r"/[a-z]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True),
    mode=st.sampled_from(["", ":ro", ":rw", ":z", ":Z,ro", ":rshared", ":ro,rslave"]),
)
def test_every_bind_the_cli_builds_is_one_the_daemon_parses(
    source: str, target: str, mode: str
) -> None:
    binds, volumes = volume_flags([f"{source}:{target}{mode}"], CWD)
    assert volumes == {}
    (bind,) = binds
    parse_bind(bind)


def m(kind: str, source: str, target: str, **rest: Any) -> dict[str, Any]:
    return {"Type": kind, **({"Source": source} if source else {}), "Target": target, **rest}


@pytest.mark.parametrize(
    ("value", "mount"),
    [
        ("type=bind,src=/source,dst=/target", m("bind", "/source", "/target")),
        ("type=bind,source=/source,target=/target", m("bind", "/source", "/target")),
        ("type=bind,source=/source,destination=/target", m("bind", "/source", "/target")),
        ("target=/target,source=/foo", m("volume", "/foo", "/target")),
        ("type=bind,source=.,target=/t", m("bind", CWD, "/t")),
        ("type=bind,source=../,target=/t", m("bind", "/home/user", "/t")),
        ("type=bind,src=/s,dst=/t,readonly", m("bind", "/s", "/t", ReadOnly=True)),
        ("type=bind,src=/s,dst=/t,ro=true", m("bind", "/s", "/t", ReadOnly=True)),
        ("type=bind,src=/s,dst=/t,ro=0", m("bind", "/s", "/t")),
        (
            "type=bind,src=/s,dst=/t,bind-propagation=RSHARED,consistency=cached",
            m("bind", "/s", "/t", Consistency="cached", BindOptions={"Propagation": "rshared"}),
        ),
        (
            "type=bind,src=/s,dst=/t,bind-recursive=disabled,bind-create-src",
            m("bind", "/s", "/t", BindOptions={"NonRecursive": True, "CreateMountpoint": True}),
        ),
        ("type=bind,src=/s,dst=/t,bind-recursive=enabled", m("bind", "/s", "/t", BindOptions={})),
        (
            "type=volume,src=data,dst=/d,volume-nocopy,volume-opt=type=tmpfs,volume-opt=o=size=1m,"
            "volume-driver=local,volume-label=a=b,volume-subpath=sub",
            m(
                "volume",
                "data",
                "/d",
                VolumeOptions={
                    "NoCopy": True,
                    "Labels": {"a": "b"},
                    "Subpath": "sub",
                    "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "o": "size=1m"}},
                },
            ),
        ),
        ("type=volume,dst=/d,volume-nocopy=false", m("volume", "", "/d", VolumeOptions={})),
        (
            "type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1777",
            m("tmpfs", "", "/run", TmpfsOptions={"SizeBytes": 64 << 20, "Mode": 0o1777}),
        ),
        ('"type=bind","src=/a,b",dst=/t', m("bind", "/a,b", "/t")),
        ("TYPE=Bind,SRC=/s,Target=/t", m("bind", "/s", "/t")),
    ],
)
def test_mount_builds_the_api_mount_object(value: str, mount: dict[str, Any]) -> None:
    built = parse_mount(value, CWD)
    assert built == mount
    # The daemon reads what the CLI built (domain/config's Mount, as the API decodes it).
    assert HostConfig.from_docker({"Mounts": [built]}).mounts[0] == Mount.from_docker(mount)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "value is empty"),
        ("type=volume,target=/foo,bogus=foo", "unknown option 'bogus' in 'bogus=foo'"),
        (
            "type=volume, src=/foo,target=/foo",
            "invalid option 'src' in ' src=/foo': option should not have whitespace",
        ),
        (
            "type=volume,src =/foo,target=/foo",
            "invalid option 'src' in 'src =/foo': option should not have whitespace",
        ),
        ("type=volume,src=,target=/foo", "invalid value for 'src': value is empty"),
        (
            "type=volume,src= /foo,target=/foo",
            "invalid value for 'src' in 'src= /foo': value should not have whitespace",
        ),
        ("type=volume,target=/foo,bogus", "invalid field 'bogus' must be a key=value pair"),
        (
            "type=bind,target=/foo,readonly=maybe",
            "invalid value for 'readonly': invalid boolean value (\"maybe\"): must be one of "
            '"true", "1", "false", or "0" (default "true")',
        ),
        ("type=bind,dst=/t,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
        (
            "type=volume,dst=/t,bind-propagation=shared",
            "cannot mix 'bind-*' options with mount type 'volume'",
        ),
        ("type=bind,dst=/t,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"),
        ("dst=/t,image-subpath=x", "cannot mix 'image-*' options with mount type 'volume'"),
        ("type=tmpfs,dst=/t,tmpfs-size=big", "invalid value for tmpfs-size: big"),
        ("type=tmpfs,dst=/t,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
        (
            "type=bind,dst=/t,bind-nonrecursive",
            "bind-nonrecursive is deprecated, use bind-recursive=disabled instead",
        ),
        (
            "type=bind,dst=/t,bind-recursive=maybe",
            "invalid value for bind-recursive: maybe "
            '(must be "enabled", "disabled", "writable", or "readonly")',
        ),
        (
            "type=bind,dst=/t,bind-recursive=writable",
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
        ),
        (
            "type=bind,dst=/t,ro,bind-recursive=readonly",
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be "
            "specified in conjunction",
        ),
    ],
)
def test_mount_refuses_what_the_cli_refuses(value: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse_mount(value, CWD)
    assert refused.value.message == message


_words = st.text("abcxyz/._-", min_size=1, max_size=10)


@given(
    kind=st.sampled_from(["bind", "volume", "tmpfs"]),
    source=_words,
    target=_words,
    readonly=st.sampled_from(["", ",readonly", ",ro=true", ",ro=false"]),
)
def test_any_plain_mount_round_trips_through_the_api_types(
    kind: str, source: str, target: str, readonly: str
) -> None:
    built = parse_mount(f"type={kind},source={source},target={target}{readonly}", CWD)
    assert built["Type"] == kind and built["Target"] == target
    assert built.get("ReadOnly", False) is (readonly in (",readonly", ",ro=true"))
    assert Mount.from_docker(built).to_docker() == built


def test_tmpfs_flags_keep_the_options_for_the_daemon() -> None:
    assert tmpfs_flags(["/run:size=64m,mode=1777", "/tmp", "/run:rw"]) == {
        "/run": "rw",
        "/tmp": "",
    }


@pytest.mark.parametrize(
    ("text", "size"),
    [("64m", 64 << 20), ("1g", 1 << 30), ("512KiB", 512 << 10), ("10", 10), ("1.5k", 1536),
     ("2 MB", 2 << 20), ("1p", 1 << 50)],
)  # fmt: skip
def test_ram_in_bytes_reads_go_units_sizes(text: str, size: int) -> None:
    assert ram_in_bytes(text) == size


@pytest.mark.parametrize("text", ["", "m", "1.2.3m", "-1", "1x", "1 m b"])
def test_ram_in_bytes_refuses_what_go_units_refuses(text: str) -> None:
    with pytest.raises(InvalidParameter):
        ram_in_bytes(text)
