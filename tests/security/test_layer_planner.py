"""The pure layer planner: names cleaned or refused, links, whiteouts, metadata and budgets."""

from __future__ import annotations

from typing import Any

import pytest

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

from .corpus_tar import MTIME


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
