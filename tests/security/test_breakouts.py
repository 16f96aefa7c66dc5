"""Malicious layers against the planner (pure) and the unpacker (real filesystem, as root).

Every corpus case runs twice: through the pure `LayerPlanner` with no filesystem at all,
and through `unpack_layer` into `<tmp>/layer` next to a sentinel tree `<tmp>/outside`.
Whatever the outcome, the sentinel tree, everything else under tmp and the host paths
the absolute-symlink cases aim at must be exactly as before, byte for byte.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pytest
import zstandard

from berth.adapters.snapshots.unpack import LayerWriter, read_entries, unpack_layer
from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import (
    Entry,
    EntryType,
    Hardlink,
    LayerLimits,
    LayerRejected,
    MakeDevice,
    MakeDir,
    OpaqueDir,
    Remove,
    SetDirMetadata,
    Skip,
    Symlink,
    Whiteout,
    WriteFile,
    clean_path,
)
from berth.domain.layers import LayerPlanner

from .corpus import (
    CASES,
    HOST_SENTINELS,
    MTIME,
    BreakoutCase,
    c,
    d,
    f,
    h,
    populate_outside,
    s,
    tar,
)

# -- observing the world ---------------------------------------------------------------


def tree_state(
    root: Path, *, exclude: Path | None = None, with_root: bool = True, times: bool = True
) -> dict[str, Any]:
    """Every node under `root` (not following symlinks): type, mode, owner, links,
    size, mtime (unless `times` is false), content or link text, and xattrs."""
    state: dict[str, Any] = {}

    def visit(path: Path) -> None:
        st = os.lstat(path)
        content: bytes | None = None
        if stat.S_ISREG(st.st_mode):
            content = path.read_bytes()
        elif stat.S_ISLNK(st.st_mode):
            content = os.fsencode(os.readlink(path))
        names = os.listxattr(path, follow_symlinks=False)
        xattrs = {key: os.getxattr(path, key, follow_symlinks=False) for key in sorted(names)}
        if path != root or with_root:
            state[str(path.relative_to(root))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_nlink,
                st.st_size,
                st.st_mtime_ns if times else None,
                st.st_rdev,
                content,
                xattrs,
            )
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                if path / name != exclude:
                    visit(path / name)

    visit(root)
    return state


def host_state() -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name in HOST_SENTINELS:
        try:
            st = os.lstat(name)
        except FileNotFoundError:
            state[name] = None
            continue
        digest = None
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(Path(name).read_bytes()).hexdigest()
        state[name] = (st.st_ino, st.st_mode, st.st_nlink, st.st_size, st.st_mtime_ns, digest)
    return state


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- the corpus, end to end ------------------------------------------------------------


def test_the_corpus_ports_every_upstream_case() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    containerd = [case for case in CASES if case.origin == "containerd TestBreakouts"]
    assert len(containerd) == 33
    assert {"TestUntarHardlinkToSymlink", "TestChrootApplyDotDotFile"} <= set(names)
    assert all(case.layer and len(case.layer) % 512 == 0 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_breakout_is_refused_or_contained(case: BreakoutCase, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    populate_outside(outside)
    blob = tmp_path / "layer.tar"
    blob.write_bytes(case.layer)
    target = tmp_path / "layer"
    outside_before = tree_state(outside)
    tmp_before = tree_state(tmp_path, exclude=target, with_root=False)
    host_before = host_state()

    if case.expect == "reject":
        with pytest.raises(LayerRejected) as caught:
            unpack_layer(blob, target)
        assert caught.value.http_status == 400
        assert not os.path.lexists(target), "a rejected layer left its target behind"
    else:
        result = unpack_layer(blob, target)
        assert result.diff_id == sha256(case.layer)
        assert result.size == len(case.layer)
        case.check(target, outside)

    assert tree_state(outside) == outside_before, "the outside tree changed"
    assert tree_state(tmp_path, exclude=target, with_root=False) == tmp_before
    assert host_state() == host_before, "a host path changed"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_planner_alone_decides_each_case(case: BreakoutCase) -> None:
    """The same decision with no filesystem at all: headers in, actions out."""
    planner = LayerPlanner()

    def plan() -> list[object]:
        actions: list[object] = []
        for entry in read_entries(io.BytesIO(case.layer)):
            actions.extend(planner.feed(entry))
        return [*actions, *planner.finish()]

    if case.expect == "reject":
        with pytest.raises(LayerRejected):
            plan()
    else:
        assert plan()


def test_an_existing_target_symlinked_to_the_host_is_never_used(tmp_path: Path) -> None:
    """TestUntarWithMaliciousSymlinks, target form: the target is a symlink to the host."""
    outside = tmp_path / "outside"
    populate_outside(outside)
    blob = tmp_path / "layer.tar"
    blob.write_bytes(tar(f("host-file", b"pwn3d")))
    target = tmp_path / "layer"
    target.symlink_to(outside)
    before = tree_state(outside)
    with pytest.raises(FileExistsError):
        unpack_layer(blob, target)
    assert os.readlink(target) == str(outside)  # left alone: not ours to remove
    assert tree_state(outside) == before


def test_an_existing_target_directory_is_refused_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "layer"
    target.mkdir()
    (target / "keep").write_bytes(b"mine")
    blob = tmp_path / "layer.tar"
    blob.write_bytes(tar(f("keep", b"theirs")))
    with pytest.raises(FileExistsError):
        unpack_layer(blob, target)
    assert (target / "keep").read_bytes() == b"mine"


# -- the planner, pure -----------------------------------------------------------------


def E(name: str, kind: EntryType = EntryType.FILE, **fields: Any) -> Entry:
    return Entry(name=name, type=kind, **fields)


def feed_all(*entries: Entry, limits: LayerLimits | None = None) -> list[object]:
    planner = LayerPlanner(limits or LayerLimits())
    actions: list[object] = []
    for entry in entries:
        actions.extend(planner.feed(entry))
    return actions


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("a", "a"),
        ("./a//b/.", "a/b"),
        ("/a/b/", "a/b"),
        ("a/../b", "b"),
        ("a/b/../../c", "c"),
        ("..gitme", "..gitme"),
        ("...", "..."),
        ("./", ""),
        ("/", ""),
    ],
)
def test_names_are_cleaned_inside_the_root(name: str, clean: str) -> None:
    assert clean_path(name) == clean


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("..", "escapes"),
        ("../x", "escapes"),
        ("/../x", "escapes"),
        ("a/../../x", "escapes"),
        ("./../x", "escapes"),
        ("a\x00b", "NUL"),
        ("x" * 256, "255"),
        ("/".join(["y" * 255] * 17), "4096"),
    ],
)
def test_bad_names_are_rejected_with_the_entry_and_reason(name: str, reason: str) -> None:
    with pytest.raises(LayerRejected) as caught:
        feed_all(E(name))
    assert reason in caught.value.message
    assert repr(name) in caught.value.message
    assert isinstance(caught.value, InvalidParameter)


def test_a_multibyte_component_is_measured_in_bytes() -> None:
    feed_all(E("é" * 127))  # 254 bytes
    with pytest.raises(LayerRejected, match="255"):
        feed_all(E("é" * 128))  # 128 characters, 256 bytes


def test_missing_parents_are_planned_as_implicit_directories() -> None:
    assert feed_all(E("a/b/c", size=3, mode=0o640, mtime_ns=7)) == [
        MakeDir("a", implicit=True),
        MakeDir("a/b", implicit=True),
        WriteFile("a/b/c", 3, 0o640, 0, 0, 7),
    ]


@pytest.mark.parametrize(
    "first",
    [
        E("p", EntryType.SYMLINK, linkname="/etc"),
        E("p", EntryType.SYMLINK, linkname="."),
        E("p"),
        E("p", EntryType.FIFO),
    ],
    ids=["symlink-absolute", "symlink-dot", "file", "fifo"],
)
def test_a_parent_that_is_not_a_directory_rejects(first: Entry) -> None:
    with pytest.raises(LayerRejected, match="parent 'p' is"):
        feed_all(first, E("p/x"))


def test_symlink_targets_are_kept_verbatim() -> None:
    for target in ("/etc/shadow", "../../../../outside", "a//b/./../c", "/"):
        actions = feed_all(E("l", EntryType.SYMLINK, linkname=target, uid=5, gid=6))
        assert actions == [Symlink("l", target, 5, 6, 0)]


@pytest.mark.parametrize(
    ("linkname", "why"),
    [("", "empty"), ("a\x00b", "NUL"), ("x" * 4096, "4095")],
)
def test_unusable_symlink_targets_reject(linkname: str, why: str) -> None:
    with pytest.raises(LayerRejected, match=why):
        feed_all(E("l", EntryType.SYMLINK, linkname=linkname))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("etc/.wh.passwd", [MakeDir("etc", implicit=True), Whiteout("etc/passwd")]),
        (".wh.etc", [Whiteout("etc")]),
        ("etc/.wh..wh..opq", [MakeDir("etc", implicit=True), OpaqueDir("etc")]),
        (".wh..wh..opq", [Skip(".wh..wh..opq: opaque marker at the layer root")]),
        ("etc/.wh..wh.plnk", [Skip("etc/.wh..wh.plnk: AUFS metadata")]),
    ],
)
def test_whiteouts_become_overlay_actions_never_files(name: str, expected: list[object]) -> None:
    assert feed_all(E(name, size=4)) == expected


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh...", "dir/.wh..", "dir/.wh...", "/.wh.."])
def test_whiteouts_that_name_no_child_reject(name: str) -> None:
    with pytest.raises(LayerRejected, match="child of its directory"):
        feed_all(E(name))


def test_a_whiteout_marker_is_not_a_directory() -> None:
    with pytest.raises(LayerRejected, match="whiteout marker used as a directory"):
        feed_all(E(".wh.etc/passwd"))


def test_a_whiteout_hides_lower_layers_only() -> None:
    actions = feed_all(E("etc", EntryType.DIR), E("etc/passwd"), E("etc/.wh.passwd"))
    assert isinstance(actions[-1], Skip)
    assert not any(isinstance(action, Whiteout) for action in actions)
    # and an entry after a whiteout replaces it
    actions = feed_all(E(".wh.x"), E("x", EntryType.DIR))
    assert actions == [Whiteout("x"), Remove("x"), MakeDir("x")]


def test_hardlinks_must_name_an_earlier_non_directory_of_this_layer() -> None:
    assert feed_all(E("a"), E("b", EntryType.HARDLINK, linkname="/a")) == [
        WriteFile("a", 0, 0o644, 0, 0, 0),
        Hardlink("b", "a"),
    ]
    cases = {
        "not unpacked": (E("b", EntryType.HARDLINK, linkname="a"),),
        "escapes": (E("b", EntryType.HARDLINK, linkname="../outside/hello"),),
        "directory": (E("d", EntryType.DIR), E("b", EntryType.HARDLINK, linkname="d")),
        "layer root": (E("b", EntryType.HARDLINK, linkname="/"),),
        "passes through 'l', a symlink": (
            E("d/x"),
            E("l", EntryType.SYMLINK, linkname="d"),
            E("b", EntryType.HARDLINK, linkname="l/x"),
        ),
        "whiteout": (E(".wh.gone"), E("b", EntryType.HARDLINK, linkname="gone")),
        "removed by this entry": (
            E("d/x"),
            E("d", EntryType.HARDLINK, linkname="d/x"),
        ),
    }
    for reason, entries in cases.items():
        with pytest.raises(LayerRejected, match=reason):
            feed_all(*entries)


def test_a_hardlink_to_a_symlink_is_the_symlink() -> None:
    planner = LayerPlanner()
    planner.feed(E("s", EntryType.SYMLINK, linkname="/etc/passwd"))
    assert planner.feed(E("h", EntryType.HARDLINK, linkname="s")) == (Hardlink("h", "s"),)
    # the new name is itself a symlink: nothing may pass through it either
    with pytest.raises(LayerRejected, match="parent 'h' is a symlink"):
        planner.feed(E("h/x"))


def test_later_entries_win_and_directories_merge() -> None:
    actions = feed_all(
        E("d", EntryType.DIR, mode=0o700),
        E("d/f"),
        E("d", EntryType.DIR, mode=0o750),  # merges: no Remove
        E("d", EntryType.SYMLINK, linkname="/etc"),  # replaces the whole directory
        E("d"),  # and a file replaces the symlink
    )
    assert actions == [
        MakeDir("d"),
        WriteFile("d/f", 0, 0o644, 0, 0, 0),
        MakeDir("d"),
        Remove("d"),
        Symlink("d", "/etc", 0, 0, 0),
        Remove("d"),
        WriteFile("d", 0, 0o644, 0, 0, 0),
    ]


def test_directory_metadata_is_deferred_to_the_end() -> None:
    planner = LayerPlanner()
    planner.feed(E("a", EntryType.DIR, mode=0o500, uid=7, gid=8, mtime_ns=MTIME))
    planner.feed(E("a/b/c"))
    planner.feed(E("gone", EntryType.DIR))
    planner.feed(E("gone"))  # replaced: its metadata goes with it
    assert sorted(planner.finish(), key=lambda meta: meta.path) == [
        SetDirMetadata("", 0o755, None, None, None),
        SetDirMetadata("a", 0o500, 7, 8, MTIME),
        SetDirMetadata("a/b", 0o755, None, None, None),
    ]


def test_the_root_entry_sets_root_metadata_but_cannot_be_replaced() -> None:
    planner = LayerPlanner()
    assert planner.feed(E("./", EntryType.DIR, mode=0o750)) == (MakeDir(""),)
    assert planner.finish()[0] == SetDirMetadata("", 0o750, 0, 0, 0)
    for kind in (EntryType.FILE, EntryType.SYMLINK, EntryType.FIFO):
        with pytest.raises(LayerRejected, match="layer root"):
            feed_all(E("/", kind, linkname="x"))


def test_modes_ids_and_devices_are_kept() -> None:
    actions = feed_all(
        E("bin/su", mode=0o104755, uid=0, gid=0),
        E("dev/sda", EntryType.BLOCK, mode=0o660, gid=6, devmajor=8, devminor=0),
        E("dev/null", EntryType.CHAR, mode=0o666, devmajor=1, devminor=3),
        E("run/fifo", EntryType.FIFO, mode=0o600, devmajor=9, devminor=9),
    )
    assert WriteFile("bin/su", 0, 0o4755, 0, 0, 0) in actions
    assert MakeDevice("dev/sda", EntryType.BLOCK, 0o660, 0, 6, 8, 0, 0) in actions
    assert MakeDevice("dev/null", EntryType.CHAR, 0o666, 0, 0, 1, 3, 0) in actions
    assert MakeDevice("run/fifo", EntryType.FIFO, 0o600, 0, 0, 0, 0, 0) in actions


def test_devices_can_be_dropped_by_policy() -> None:
    limits = LayerLimits(keep_devices=False)
    actions = feed_all(E("dev/null", EntryType.CHAR, devmajor=1, devminor=3), limits=limits)
    assert len(actions) == 1 and isinstance(actions[0], Skip)
    assert feed_all(E(".wh.x"), limits=limits) == [Whiteout("x")]  # whiteouts still work


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (E("f", uid=-1), "uid -1"),
        (E("f", gid=1 << 32), "gid"),
        (E("f", uid=(1 << 32) - 1), "uid"),
        (E("f", size=-1), "negative size"),
        (E("n", EntryType.CHAR, devmajor=1 << 12), "device number"),
        (E("n", EntryType.BLOCK, devminor=1 << 20), "device number"),
        (E("f", xattrs=(("", b""),)), "xattr"),
        (E("f", xattrs=(("user.big", bytes(65537)),)), "xattr"),
    ],
)
def test_out_of_range_numbers_reject(entry: Entry, why: str) -> None:
    with pytest.raises(LayerRejected, match=why):
        feed_all(entry)


def test_engine_reserved_xattrs_are_dropped() -> None:
    xattrs = (("security.capability", b"\x01"), ("trusted.overlay.opaque", b"y"))
    (action,) = feed_all(E("f", xattrs=xattrs))
    assert isinstance(action, WriteFile)
    assert action.xattrs == (("security.capability", b"\x01"),)


def test_entry_budget_counts_implicit_directories() -> None:
    limits = LayerLimits(max_entries=3)
    feed_all(E("a"), E("b"), E("c"), limits=limits)
    with pytest.raises(LayerRejected, match="more than 3 entries"):
        feed_all(E("a"), E("b"), E("c"), E("d"), limits=limits)
    with pytest.raises(LayerRejected, match="more than 3 entries"):
        feed_all(E("a/b/c/d"), limits=limits)


def test_byte_budget_is_checked_before_any_data() -> None:
    limits = LayerLimits(max_bytes=100)
    feed_all(E("a", size=60), E("b", size=40), limits=limits)
    with pytest.raises(LayerRejected, match="exceeds 100 bytes"):
        feed_all(E("a", size=60), E("b", size=41), limits=limits)


# -- the unpacker ----------------------------------------------------------------------


def normal_layer() -> bytes:
    return tar(
        d("etc", 0o755),
        f("etc/passwd", b"root:x:0:0\n"),
        f("bin/su", b"\x7fELF" * 300, mode=0o4755, uid=0, gid=0),
        f("usr/bin/newgrp", b"x", mode=0o2755, uid=1234, gid=5678),
        d("tmp", 0o1777),
        s("lib", "usr/lib"),
        s("abs", "/etc/passwd"),
        h("etc/passwd-link", "etc/passwd"),
        c("dev/null", 1, 3),
        f("long/" + "n" * 200, b"long name"),
        f("etc/.wh.shadow"),
        f("var/.wh..wh..opq"),
    )


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zstd_bytes(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def unpack_bytes(tmp_path: Path, blob: bytes, name: str = "layer", **kw: Any) -> Path:
    path = tmp_path / f"{name}.blob"
    path.write_bytes(blob)
    target = tmp_path / name
    unpack_layer(path, target, **kw)
    return target


@pytest.mark.parametrize("compress", [bytes, gzip_bytes, zstd_bytes], ids=["plain", "gzip", "zstd"])
def test_every_compression_gives_the_same_tree_and_diff_id(compress: Any, tmp_path: Path) -> None:
    layer = normal_layer()
    blob = tmp_path / "blob"
    blob.write_bytes(compress(layer))
    result = unpack_layer(blob, tmp_path / "layer")
    assert result.diff_id == sha256(layer)
    assert result.size == len(layer)
    assert result.entries == 12
    reference = tmp_path / "reference.tar"
    reference.write_bytes(layer)
    unpack_layer(reference, tmp_path / "reference")
    unpacked = tree_state(tmp_path / "layer", times=False)
    assert unpacked == tree_state(tmp_path / "reference", times=False)
    assert len(unpacked) == 18


def test_the_unpacked_tree_keeps_what_images_need(tmp_path: Path) -> None:
    root = unpack_bytes(tmp_path, gzip_bytes(normal_layer()))
    su = os.lstat(root / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_mtime_ns == MTIME * 10**9
    newgrp = os.lstat(root / "usr/bin/newgrp")
    assert (stat.S_IMODE(newgrp.st_mode), newgrp.st_uid, newgrp.st_gid) == (0o2755, 1234, 5678)
    assert stat.S_IMODE(os.lstat(root / "tmp").st_mode) == 0o1777
    null = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    passwd, link = os.lstat(root / "etc/passwd"), os.lstat(root / "etc/passwd-link")
    assert (passwd.st_ino, passwd.st_nlink) == (link.st_ino, 2)
    assert os.readlink(root / "abs") == "/etc/passwd"
    assert os.readlink(root / "lib") == "usr/lib"
    assert (root / ("long/" + "n" * 200)).read_bytes() == b"long name"
    assert stat.S_IMODE(os.lstat(root).st_mode) == 0o755


def test_whiteouts_and_opaque_directories_take_overlay_form(tmp_path: Path) -> None:
    root = unpack_bytes(tmp_path, normal_layer())
    shadow = os.lstat(root / "etc/shadow")
    assert stat.S_ISCHR(shadow.st_mode) and shadow.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "var", "trusted.overlay.opaque") == b"y"
    assert "trusted.overlay.opaque" not in os.listxattr(root / "etc")
    markers = [name for _, dirs, files in os.walk(root) for name in dirs + files]
    assert not [name for name in markers if name.startswith(".wh.")]


def test_an_absolute_symlink_is_not_followed_by_later_entries(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    populate_outside(outside)
    before = tree_state(outside)
    layer = tar(s("abs", str(outside)), f("abs", b"replaced"), s("hello", str(outside / "hello")))
    root = unpack_bytes(tmp_path, layer)
    assert (root / "abs").read_bytes() == b"replaced"
    assert os.readlink(root / "hello") == str(outside / "hello")
    assert tree_state(outside) == before


def test_fifo_xattrs_and_directory_times(tmp_path: Path) -> None:
    fifo = tarfile.TarInfo("run/pipe")
    fifo.type, fifo.mode = tarfile.FIFOTYPE, 0o620
    layer = tar(
        d("data", 0o555),  # read-only directory, filled afterwards
        f("data/file", b"x", pax_headers={"SCHILY.xattr.user.origin": "layer"}),
        fifo.tobuf(tarfile.PAX_FORMAT),
    )
    root = unpack_bytes(tmp_path, layer)
    data = os.lstat(root / "data")
    assert stat.S_IMODE(data.st_mode) == 0o555
    assert data.st_mtime_ns == MTIME * 10**9  # applied after the file was created in it
    assert os.getxattr(root / "data/file", "user.origin") == b"layer"
    pipe = os.lstat(root / "run/pipe")
    assert stat.S_ISFIFO(pipe.st_mode) and stat.S_IMODE(pipe.st_mode) == 0o620


def test_the_diff_id_covers_bytes_after_the_archive(tmp_path: Path) -> None:
    layer = tar(f("a", b"1")) + bytes(4096)
    path = tmp_path / "blob"
    path.write_bytes(zstd_bytes(layer[:3000]) + zstd_bytes(layer[3000:]))  # two frames
    result = unpack_layer(path, tmp_path / "layer")
    assert (result.diff_id, result.size) == (sha256(layer), len(layer))
    multi = tmp_path / "multi.gz"
    multi.write_bytes(gzip_bytes(layer[:1000]) + gzip_bytes(layer[1000:]))  # two members
    assert unpack_layer(multi, tmp_path / "multi").diff_id == sha256(layer)


def test_an_empty_layer_is_an_empty_directory(tmp_path: Path) -> None:
    result = unpack_bytes(tmp_path, gzip_bytes(tar()))
    assert os.listdir(result) == []


@pytest.mark.parametrize(
    ("layer", "limits", "why"),
    [
        (tar(f("a"), f("b"), f("c")), LayerLimits(max_entries=2), "more than 2 entries"),
        (tar(f("a/b/c")), LayerLimits(max_entries=2), "more than 2 entries"),
        (tar(f("a", bytes(3000))), LayerLimits(max_bytes=2048), "exceeds 2048 bytes"),
        (tar(f("a", b"1")), LayerLimits(max_bytes=4096), "exceeds 4096 bytes uncompressed"),
    ],
    ids=["entries", "implicit-dirs", "content-bytes", "stream-bytes"],
)
def test_budgets_reject_and_leave_nothing(
    layer: bytes, limits: LayerLimits, why: str, tmp_path: Path
) -> None:
    path = tmp_path / "blob"
    path.write_bytes(gzip_bytes(layer))
    with pytest.raises(LayerRejected, match=why):
        unpack_layer(path, tmp_path / "layer", limits)
    assert not os.path.lexists(tmp_path / "layer")


def truncated(layer: bytes, compress: Any) -> bytes:
    blob = compress(layer)
    return blob[: len(blob) // 2]


@pytest.mark.parametrize(
    "blob",
    [
        truncated(normal_layer(), gzip_bytes),
        truncated(normal_layer() + os.urandom(300_000), zstd_bytes),
        tar(f("a", b"x" * 5000))[:1024],  # plain, inside the data
        tar(f("a", b"x"), f("b"))[:1124],  # plain, inside a header block
        gzip_bytes(normal_layer())[:-4],  # gzip without its size trailer
        gzip_bytes(normal_layer()) + b"garbage!",
        zstd_bytes(normal_layer())[:-1],
    ],
    ids=["gzip", "zstd", "tar-data", "tar-header", "gzip-trailer", "gzip-garbage", "zstd-end"],
)
def test_corrupt_or_truncated_streams_are_refused_cleanly(blob: bytes, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(blob)
    with pytest.raises(InvalidParameter, match=r"^failed to unpack layer: ") as caught:
        unpack_layer(path, tmp_path / "layer")
    assert not isinstance(caught.value, LayerRejected)
    assert not os.path.lexists(tmp_path / "layer")


def test_a_bad_header_checksum_is_corrupt(tmp_path: Path) -> None:
    layer = bytearray(tar(f("a", b"1")))
    layer[0] ^= 1  # the name changes, the checksum does not
    path = tmp_path / "blob"
    path.write_bytes(bytes(layer))
    with pytest.raises(InvalidParameter, match="checksum"):
        unpack_layer(path, tmp_path / "layer")
    assert not os.path.lexists(tmp_path / "layer")


def gzip_of_zeros(total: int, prefix: bytes = b"") -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    out = [packer.compress(prefix)]
    for _ in range(total // len(chunk)):
        out.append(packer.compress(chunk))
    out.append(packer.flush())
    return b"".join(out)


def peak_memory(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_stops_at_the_byte_budget_in_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip_of_zeros(128 << 20))  # 128 MiB of zeros in ~130 KB
    assert bomb.stat().st_size < 1 << 20
    limits = LayerLimits(max_bytes=8 << 20)

    def unpack() -> None:
        with pytest.raises(LayerRejected, match="exceeds 8388608 bytes uncompressed"):
            unpack_layer(bomb, tmp_path / "layer", limits)

    assert peak_memory(unpack) < 16 << 20
    assert not os.path.lexists(tmp_path / "layer")


def test_a_large_file_streams_through_bounded_memory(tmp_path: Path) -> None:
    header = tarfile.TarInfo("big")
    header.size = 96 << 20
    body = header.tobuf(tarfile.PAX_FORMAT)
    blob = tmp_path / "big.gz"
    blob.write_bytes(gzip_of_zeros(97 << 20, prefix=body))  # data, then the end marker
    peak = peak_memory(lambda: unpack_layer(blob, tmp_path / "layer"))
    assert os.lstat(tmp_path / "layer/big").st_size == 96 << 20
    assert peak < 16 << 20


def test_a_declared_size_over_budget_is_refused_before_reading(tmp_path: Path) -> None:
    header = tarfile.TarInfo("huge")
    header.size = 1 << 40  # one TiB declared, nothing behind it
    path = tmp_path / "blob"
    path.write_bytes(header.tobuf(tarfile.PAX_FORMAT))
    with pytest.raises(LayerRejected, match="content exceeds"):
        unpack_layer(path, tmp_path / "layer")


# -- the writer alone: defense in depth ------------------------------------------------


@pytest.fixture
def writer_root(tmp_path: Path) -> Any:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/hello").write_bytes(b"world")
    os.symlink("../outside", root / "escape")  # what a wrong plan could have left
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield LayerWriter(fd), root, tmp_path / "outside"
    os.close(fd)


@pytest.mark.parametrize(
    "action",
    [
        WriteFile("escape/pwned", 5, 0o644, 0, 0, 0),
        MakeDir("escape/newdir"),
        Symlink("escape/link", "/", 0, 0, 0),
        Hardlink("stolen", "escape/hello"),
        Whiteout("escape/hello"),
        OpaqueDir("escape"),
        Remove("escape/hello"),
        SetDirMetadata("escape", 0o777, 0, 0, 0),
        MakeDevice("escape/dev", EntryType.CHAR, 0o666, 0, 0, 1, 3, 0),
    ],
    ids=lambda action: type(action).__name__,
)
def test_the_writer_never_follows_a_symlink_even_when_told_to(
    action: Any, writer_root: Any
) -> None:
    writer, root, outside = writer_root
    before = tree_state(outside)
    with pytest.raises(OSError) as caught:
        writer.apply(action, [b"pwned"])
    assert caught.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert tree_state(outside) == before
    assert sorted(os.listdir(root)) == ["escape"]


def test_the_writer_removes_a_symlink_not_what_it_points_to(writer_root: Any) -> None:
    writer, root, outside = writer_root
    writer.apply(Remove("escape"))
    assert os.listdir(root) == []
    assert (outside / "hello").read_bytes() == b"world"


def test_the_writer_refuses_unsafe_paths(writer_root: Any) -> None:
    writer, _, _ = writer_root
    for path in ("../outside/x", "a//b", "./x", "/x"):
        with pytest.raises(ValueError, match="unsafe path"):
            writer.apply(WriteFile(path, 0, 0o644, 0, 0, 0))
