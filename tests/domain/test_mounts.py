"""The mount plan of a create (domain/mounts.py) and its OCI mounts (domain/spec/mounts.py)."""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import Config, HostConfig
from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.mounts import (
    MountPoint,
    mount_points_of,
    parse_volumes_from,
    plan_mounts,
    validate_volume_name,
)
from berth.domain.spec import HostFacts, build_spec, resolve_user
from berth.domain.spec.mounts import container_mounts, merge_tmpfs_options, with_defaults

ROOT = "/var/lib/berth"


def plan(
    host: Mapping[str, Any],
    volumes: Sequence[str] = (),
    volumes_from: Mapping[str, Sequence[MountPoint]] | None = None,
) -> tuple[MountPoint, ...]:
    names = (f"{n:064x}" for n in itertools.count(1))
    return plan_mounts(
        Config.from_docker({"Volumes": {v: {} for v in volumes}} if volumes else {}),
        HostConfig.from_docker(dict(host)),
        volumes_from=volumes_from or {},
        new_volume_name=lambda: next(names),
        volumes_dir=f"{ROOT}/volumes",
        daemon_root=ROOT,
    )


def docker(points: Sequence[MountPoint]) -> list[dict[str, Any]]:
    return [p.to_docker() for p in points]


ANON = f"{1:064x}"


def test_binds_and_volumes_in_dockers_inspect_shape() -> None:
    points = plan({"Binds": ["/h:/c", "/r:/ro:ro", "name:/n", "/anon", "/z:/z:rw,Z,rshared"]})
    assert docker(points) == [
        {"Type": "volume", "Name": ANON, "Source": f"{ROOT}/volumes/{ANON}/_data",
         "Destination": "/anon", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "bind", "Source": "/h", "Destination": "/c", "Mode": "", "RW": True,
         "Propagation": "rprivate"},
        {"Type": "volume", "Name": "name", "Source": f"{ROOT}/volumes/name/_data",
         "Destination": "/n", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""},
        {"Type": "bind", "Source": "/r", "Destination": "/ro", "Mode": "ro", "RW": False,
         "Propagation": "rprivate"},
        {"Type": "bind", "Source": "/z", "Destination": "/z", "Mode": "rw,Z,rshared",
         "RW": True, "Propagation": "rshared"},
    ]  # fmt: skip
    assert [(p.name, p.anonymous) for p in points if p.type == "volume"] == [
        (ANON, True),
        ("name", False),
    ]


def test_mount_entries_have_no_mode_and_tmpfs_keeps_its_options() -> None:
    points = plan(
        {
            "Mounts": [
                {"Type": "bind", "Source": "/h", "Target": "/b", "ReadOnly": True,
                 "BindOptions": {"Propagation": "rslave", "NonRecursive": True}},
                {"Type": "volume", "Source": "v1", "Target": "/v",
                 "VolumeOptions": {"NoCopy": True}},
                {"Type": "volume", "Target": "/a"},
                {"Type": "tmpfs", "Target": "/t",
                 "TmpfsOptions": {"SizeBytes": 3 << 20, "Mode": 0o1777}},
            ]
        }
    )  # fmt: skip
    by_dest = {p.destination: p for p in points}
    assert by_dest["/b"].to_docker() == {
        "Type": "bind", "Source": "/h", "Destination": "/b", "Mode": "", "RW": False,
        "Propagation": "rslave",
    }  # fmt: skip
    assert by_dest["/b"].non_recursive and not by_dest["/b"].create_source
    assert (by_dest["/v"].mode, by_dest["/v"].copy_data) == ("z", False)
    assert by_dest["/a"].anonymous and by_dest["/a"].copy_data
    assert by_dest["/t"].to_docker() == {
        "Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True,
        "Propagation": "",
    }  # fmt: skip
    assert by_dest["/t"].tmpfs_data == "mode=1777,size=3m"


def test_image_volumes_become_anonymous_unless_something_covers_them() -> None:
    points = plan(
        {"Binds": ["/h:/covered/"], "Tmpfs": {"/tmp": ""}},
        volumes=["/covered", "/tmp", "/data/"],
    )
    assert [(p.destination, p.type, p.mode, p.anonymous) for p in points] == [
        ("/covered", "bind", "", False),
        ("/data", "volume", "", True),
    ]


def test_a_volume_driver_is_kept_without_volumes_and_looked_up_for_one() -> None:
    """dockerd makes a container's new volumes with `--volume-driver`; berth has only
    `local`, so a volume to make with another is dockerd's failed plugin lookup."""
    assert [p.type for p in plan({"VolumeDriver": "nfs", "Binds": ["/h:/x"]})] == ["bind"]
    assert plan({"VolumeDriver": "local"}, volumes=["/data"])[0].driver == "local"
    for host, volumes, name in (
        ({"VolumeDriver": "nfs", "Binds": ["v1:/x"]}, [], "v1"),
        ({"VolumeDriver": "nfs"}, ["/data"], f"{1:064x}"),  # an anonymous volume's
    ):
        with pytest.raises(NotFound) as refused:
            plan(host, volumes=volumes)
        assert refused.value.message == (
            f'create {name}: error looking up volume plugin nfs: plugin "nfs" not found'
        )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"Binds": ["/a:/x", "/b:/x/"]}, "Duplicate mount point: /x"),
        ({"Binds": ["/a:/run"], "Tmpfs": {"/run": ""}}, "Duplicate mount point: /run"),
        ({"Binds": ["/a:/x"], "Mounts": [{"Type": "volume", "Target": "/x"}]},
         "Duplicate mount point: /x"),
        ({"Binds": ["a:/x"]},
         "volume name is too short, names should be at least two alphanumeric characters"),
        ({"Binds": ["/var/lib/berth/volumes:/x:private"]},
         'must use either propagation mode "rslave" or "rshared" when mount source is within '
         'the daemon root'),
        ({"Mounts": [{"Type": "volume", "Target": "/x", "ReadOnly": True}]},
         'invalid mount config for type "volume": must not set ReadOnly mode when using '
         "anonymous volumes"),
        ({"Mounts": [{"Type": "volume", "Source": "v1", "Target": "/x",
                      "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}}]},
         'volume driver "nfs" is not supported by berth'),
        ({"VolumesFrom": ["c:rshared"]}, "invalid mode: rshared"),
        ({"VolumesFrom": [""]}, "volumes-from specification cannot be an empty string"),
    ],
)  # fmt: skip
def test_refused_as_dockerd(host: Mapping[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        plan(host)
    assert message in refused.value.message


def test_the_engine_root_is_bound_rslave() -> None:
    (point,) = plan({"Binds": ["/:/host"]})
    assert point.propagation == "rslave"


def test_volumes_from_inherits_and_is_overridden_by_binds() -> None:
    theirs = plan({"Binds": ["/h:/h", "named:/n", "/anon"]})
    mine = plan(
        {"VolumesFrom": ["other:ro"], "Binds": ["/mine:/h"]}, volumes_from={"other": theirs}
    )
    assert [(p.destination, p.source, p.rw, p.copy_data) for p in mine] == [
        ("/anon", f"{ROOT}/volumes/{ANON}/_data", False, False),
        ("/h", "/mine", True, False),
        ("/n", f"{ROOT}/volumes/named/_data", False, False),
    ]
    assert parse_volumes_from("c") == ("c", "rw")
    assert parse_volumes_from("c:ro,z") == ("c", "ro,z")
    assert parse_volumes_from("c:cached") == ("c", "cached")  # consistency: accepted
    assert parse_volumes_from("c:") == ("c", "")
    for bad in ("c:nocopy", "c:ro,rw", "c:bogus"):
        with pytest.raises(InvalidParameter):
            parse_volumes_from(bad)


def test_records_round_trip_and_old_logs_have_no_mounts() -> None:
    points = plan({"Binds": ["/h:/c:ro", "v1:/v"], "Mounts": [{"Type": "tmpfs", "Target": "/t"}]})
    assert mount_points_of([p.to_record() for p in points]) == points
    assert mount_points_of(None) == ()


@given(st.text(alphabet=string.ascii_letters + string.digits + "_.-/: ", max_size=12))
def test_volume_names_follow_dockers_pattern(name: str) -> None:
    ok = len(name) >= 2 and name[0].isalnum() and all(c.isalnum() or c in "_.-" for c in name)
    try:
        validate_volume_name(name)
    except InvalidParameter:
        assert not ok
    else:
        assert ok


_segment = st.text(alphabet="abc", min_size=1, max_size=3)
_paths = st.lists(_segment, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
_modes = st.sampled_from(["", "ro", "rw", "z", "ro,Z", "nocopy", "rslave", "ro,shared"])


@given(
    st.lists(
        st.tuples(st.sampled_from(["/src", "vol", ""]), _paths, _modes), min_size=1, max_size=4
    )
)
def test_binds_plan_one_point_per_destination_or_are_refused(
    binds: list[tuple[str, str, str]],
) -> None:
    raws = []
    for source, target, mode in binds:
        parts = [p for p in (source, target) if p]
        if source and mode:
            parts.append(mode)
        raws.append(":".join(parts))
    try:
        points = plan({"Binds": raws})
    except InvalidParameter as refused:
        destinations = [target for _, target, _ in binds]
        if "Duplicate mount point" in refused.message:
            assert len(set(destinations)) < len(destinations)
        return
    assert len({p.destination for p in points}) == len(points) == len(raws)
    for point in points:
        assert point.type in ("bind", "volume")
        assert point.rw == ("ro" not in point.mode.split(","))
        mounts = container_mounts([point], {})
        assert ("ro" in mounts[0]["options"]) == (not point.rw)


def test_oci_mounts_parents_first_and_network_files_yield_to_user_mounts() -> None:
    points = plan({"Binds": ["/a:/x/y/z", "/b:/x", "/c:/etc/hosts"], "Tmpfs": {"/x/y": "size=1m"}})
    network = [
        {"destination": f"/etc/{name}", "type": "bind", "source": f"/net/{name}",
         "options": ["rbind", "rprivate"]}
        for name in ("hosts", "hostname")
    ]  # fmt: skip
    mounts = container_mounts(points, {"/x/y": "size=1m"}, network, readonly_rootfs=True)
    assert [(m["destination"], m["source"]) for m in mounts] == [
        ("/x", "/b"),
        ("/etc/hosts", "/c"),
        ("/etc/hostname", "/net/hostname"),
        ("/x/y", "tmpfs"),
        ("/x/y/z", "/a"),
    ]
    assert mounts[2]["options"] == ["rbind", "ro", "rprivate"]  # read-only root
    assert mounts[3]["options"] == ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]


def test_tmpfs_options_merge_as_moby() -> None:
    assert merge_tmpfs_options(["noexec", "nosuid", "rprivate", "exec", "size=1m", "size=2m"]) == [
        "nosuid",
        "rprivate",
        "exec",
        "size=2m",
    ]
    with pytest.raises(InvalidParameter) as refused:
        merge_tmpfs_options(["bogus"])
    assert refused.value.message == 'Invalid tmpfs option ["bogus"]'


def test_user_mounts_replace_defaults_and_a_read_only_root_covers_the_rest() -> None:
    defaults = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": []},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid"]},
    ]
    own = container_mounts(plan({"Binds": ["/s:/dev/shm"]}), {})
    merged = with_defaults(defaults, own, readonly_rootfs=True)
    assert [(m["destination"], m["source"], m["options"]) for m in merged] == [
        ("/proc", "proc", []),
        ("/sys", "sysfs", ["nosuid", "ro"]),
        ("/dev/shm", "/s", ["rbind", "rprivate"]),
    ]


def test_the_spec_gets_the_mounts_and_a_shared_root_for_a_shared_bind() -> None:
    host = HostConfig.from_docker({"Binds": ["/s:/s:rshared"]})
    points = plan({"Binds": ["/s:/s:rshared"]})
    spec = build_spec(
        container_id="a" * 64,
        config=Config.from_docker({"Cmd": ["sh"]}),
        host_config=host,
        rootfs="/rootfs",
        hostname="h",
        user=resolve_user("", None, None, ()),
        facts=HostFacts(),
        extra_mounts=container_mounts(points, {}),
    )
    assert spec["mounts"][-1] == {
        "destination": "/s", "type": "bind", "source": "/s", "options": ["rbind", "rshared"],
    }  # fmt: skip
    assert spec["linux"]["rootfsPropagation"] == "shared"


_json = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)
_mount_bodies = st.fixed_dictionaries(
    {
        "Type": st.sampled_from(["bind", "volume", "tmpfs", "image", "npipe"]),
        "Target": _paths | st.sampled_from(["", "/", "rel"]),
    },
    optional={
        "Source": st.sampled_from(["", "/h", "vol", "a", "/var/lib/berth"]),
        "ReadOnly": st.booleans(),
        "BindOptions": st.fixed_dictionaries(
            {}, optional={"Propagation": st.sampled_from(["", "rslave", "bogus"])}
        ),
        "VolumeOptions": st.fixed_dictionaries(
            {},
            optional={
                "NoCopy": st.booleans() | _json,
                "DriverConfig": st.fixed_dictionaries({}, optional={"Name": _json}) | _json,
            },
        ),
        "TmpfsOptions": st.fixed_dictionaries(
            {},
            optional={
                "SizeBytes": st.integers(0, 1 << 40) | _json,
                "Mode": st.integers(0, 0o7777) | _json,
            },
        ),
    },
)


@given(st.lists(_mount_bodies, max_size=3))
def test_mounts_are_planned_whole_or_refused(bodies: list[dict[str, Any]]) -> None:
    """Any body is a plan or a 400: never another exception (a 500)."""
    try:
        points = plan({"Mounts": bodies})
    except InvalidParameter:
        return
    assert len(points) == len(bodies)
    for body in bodies:
        (point,) = [p for p in points if p.destination == body["Target"]]
        assert (point.type, point.rw) == (body["Type"], not body.get("ReadOnly", False))
    container_mounts(points, {})  # a planned mount point always makes an OCI mount


def test_a_volume_mounts_options_and_labels_go_with_its_mount_point() -> None:
    volume = {"DriverConfig": {"Options": {"type": "tmpfs"}}, "Labels": {"a": "b"}}
    (point,) = plan({"Mounts": [{"Type": "volume", "Target": "/x", "VolumeOptions": volume}]})
    assert (point.name, point.anonymous) == (ANON, True)
    assert (point.volume_options, point.volume_labels) == ({"type": "tmpfs"}, {"a": "b"})
    assert MountPoint.from_record(point.to_record()) == point
    with pytest.raises(InvalidParameter, match=r"VolumeOptions\.Labels"):
        plan({"Mounts": [{"Type": "volume", "Target": "/x", "VolumeOptions": {"Labels": [1]}}]})


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "volume", "VolumeOptions": {"DriverConfig": "x"}},
         "json: cannot unmarshal string into Go struct field VolumeOptions.DriverConfig of type "
         "mount.Driver"),
        ({"Type": "tmpfs", "TmpfsOptions": {"SizeBytes": "1m"}},
         "json: cannot unmarshal string into Go struct field TmpfsOptions.SizeBytes of type int64"),
        ({"Type": "tmpfs", "TmpfsOptions": {"Mode": -1}},
         "json: cannot unmarshal number -1 into Go struct field TmpfsOptions.Mode of type "
         "os.FileMode"),
    ],
)  # fmt: skip
def test_option_objects_are_typed_as_dockerd_decodes_them(
    mount: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        plan({"Mounts": [{**mount, "Target": "/x"}]})
    assert refused.value.message == message
