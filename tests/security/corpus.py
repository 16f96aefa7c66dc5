"""A corpus of malicious image layers, each with the outcome berth must give it.

Every case is an uncompressed tar (`layer`), built in memory at import time with no other
side effect, so the corpus can also be pushed to a registry as the layers of hostile
images. Case names are the upstream test names, kept one-for-one:

* containerd `pkg/archive/tar_test.go` `TestBreakouts` (all 33 cases of the stored tree);
* moby `pkg/archive/archive_test.go` `TestUntarInvalidFilenames`, `TestUntarHardlinkToSymlink`,
  `TestUntarInvalidHardlink`, `TestUntarInvalidSymlink` (sub-cases named after the
  upstream comments), moby `pkg/chrootarchive` `TestUntarWithMaliciousSymlinks` (its
  in-layer form) and `TestChrootApplyDotDotFile`;
* `origin="berth"` cases: shapes named in berth's security notes that have no upstream
  case of that name in the stored trees, and tar-parser shapes (PAX, GNU long names,
  ustar prefix, typeflags).

Layout the cases assume: the layer is unpacked into `<tmp>/layer`, next to `<tmp>/outside`,
which `populate_outside` fills with sentinel files; so `../outside/hello` from the layer
root is a real file outside it. Absolute targets (`/etc/...`) are kept as upstream wrote
them: they mean the container's `/etc`, and the tests also watch those host paths.

Upstream cases start from a pre-applied tree. berth unpacks every layer into an empty
directory (lower layers are never visible), so where the pre-applied tree matters to the
attack it is written at the start of the same layer; where it cannot be (upstream builds
it through a symlink), that part is left out and the case says so.

`expect` is berth's outcome: "reject" (LayerRejected, nothing left behind) or "contained"
(unpacked, and `check(target, outside)` asserts what the tree must look like). In both
cases nothing outside the target may change.

The members are built with corpus_tar.py; the case record, the sentinel tree and the
checks are in corpus_checks.py.
"""

from __future__ import annotations

import tarfile

from .corpus_checks import (
    BreakoutCase,
    Check,
    Expect,
    absent,
    all_of,
    has_xattr,
    is_device,
    is_dir,
    is_file,
    is_symlink,
    is_whiteout,
    no_check,
    no_xattr,
    other_inode,
    outside_mode,
    same_inode,
)
from .corpus_tar import c, d, f, gnu, h, pax, raw, s, tar

# -- the cases -------------------------------------------------------------------------

CONTAINERD = "containerd TestBreakouts"
UNBROKEN = b"unbroken"
ETC = (d("etc", 0o770), f("/etc/passwd", b"inside"))  # the usual first two members
ETC_ALL_USERS = (d("/etc/"), f("/etc/passwd", b"all users"))


def _containerd() -> list[BreakoutCase]:
    def case(
        name: str, expect: Expect, why: str, *members: bytes, check: Check = no_check
    ) -> BreakoutCase:
        return BreakoutCase(name, CONTAINERD, tar(*members), expect, why, check)

    parent_symlink = "an entry's parent is a symlink; berth never follows one"
    through_symlink = "the hardlink target path passes through a symlink"
    # fmt: off
    return [
        case("SymlinkAbsolute", "reject", parent_symlink,
             d("etc"), s("localetc", "/etc"), f("/localetc/unbroken", UNBROKEN)),
        case("SymlinkUpAndOut", "reject", parent_symlink,
             d("etc"), d("dummy"), s("localetc", "/dummy/../etc"),
             f("/localetc/unbroken", UNBROKEN)),
        case("SymlinkMultipleAbsolute", "reject", parent_symlink,
             d("etc"), d("dummy"), s("/dummy/etc", "/etc"), s("localetc", "/dummy/etc"),
             f("/dummy/etc/unbroken", UNBROKEN)),
        case("SymlinkMultipleRelative", "reject", parent_symlink,
             d("etc"), d("dummy"), s("/dummy/etc", "/etc"), s("localetc", "./dummy/etc"),
             f("/dummy/etc/unbroken", UNBROKEN)),
        case("SymlinkEmptyFile", "reject", parent_symlink,
             d("etc"), f("etc/emptied", b"notempty"), s("localetc", "/etc"),
             f("/localetc/emptied", b"")),
        case("HardlinkRelative", "reject", through_symlink,
             *ETC, d("breakouts"), s("breakouts/d1", "../../etc"),
             h("breakouts/mypasswd", "/breakouts/d1/passwd")),
        case("HardlinkDownAndOut", "reject", through_symlink,
             *ETC, d("breakouts"), d("downandout"),
             s("breakouts/d1", "../downandout/../../etc"),
             h("breakouts/mypasswd", "/breakouts/d1/passwd")),
        case("HardlinkAbsolute", "reject", through_symlink,
             *ETC, s("localetc", "/etc"), h("localpasswd", "/localetc/passwd")),
        case("HardlinkRelativeLong", "reject", through_symlink,
             *ETC, s("localetc", "../../../../../../../etc"), h("localpasswd", "/localetc/passwd")),
        case("HardlinkRelativeUpAndOut", "reject", through_symlink,
             *ETC, s("localetc", "upandout/../../../etc"), h("localpasswd", "/localetc/passwd")),
        case("HardlinkDirectRelative", "reject", "the hardlink target climbs above the root",
             *ETC, h("localpasswd", "../../../../../etc/passwd")),
        case("HardlinkDirectAbsolute", "contained",
             "an absolute hardlink target names the layer's own /etc/passwd",
             *ETC, h("localpasswd", "/etc/passwd"),
             check=all_of(same_inode("localpasswd", "etc/passwd"),
                          is_file("etc/passwd", b"inside"))),
        case("SymlinkParentDirectory", "reject", "an entry named '..' escapes the root",
             *ETC, s("..", "/etc/"), h("localpasswd", "/etc/passwd")),
        case("SymlinkEmptyFilename", "reject", "a symlink would replace the layer root",
             *ETC, s("", "/etc/"), h("localpasswd", "/etc/passwd")),
        case("SymlinkParentRelative", "reject", parent_symlink,
             *ETC, s("localetc/sub/..", "/etc/"), h("/localetc/localpasswd", "/etc/passwd")),
        case("SymlinkSlashEnded", "contained", "a plain directory with a trailing slash",
             *ETC, d("localetc/", 0o770), h("/localetc/localpasswd", "/etc/passwd"),
             check=all_of(is_dir("localetc"), same_inode("localetc/localpasswd", "etc/passwd"))),
        case("SymlinkOverrideDirectory", "reject",
             "the later symlink replaces the directory; writing through it is refused",
             *ETC, d("/localetc/"), s("localetc", "/etc"),
             h("/localetc/localpasswd", "/etc/passwd")),
        case("SymlinkOverrideDirectoryRelative", "reject",
             "the later symlink replaces the directory; writing through it is refused",
             *ETC, d("/localetc/"), s("localetc", "../../etc"),
             h("/localetc/localpasswd", "/etc/passwd")),
        case("DirectoryOverrideSymlink", "contained",
             "the directory replaces the symlink, which is removed, not followed",
             *ETC, s("localetc", "/etc"), d("/localetc/"),
             h("/localetc/localpasswd", "/etc/passwd"),
             check=all_of(is_dir("localetc"), same_inode("localetc/localpasswd", "etc/passwd"),
                          is_file("etc/passwd", b"inside"))),
        case("DirectoryOverrideSymlinkAndHardlink", "contained",
             "the directory replaces the symlink; the new file is a new inode. (Upstream's "
             "pre-applied hardlink through the symlink cannot be expressed in one layer.)",
             *ETC, s("localetc", "etc"), d("/localetc/"),
             f("/localetc/localpasswd", b"different"),
             check=all_of(is_dir("localetc"), other_inode("localetc/localpasswd", "etc/passwd"),
                          is_file("localetc/localpasswd", b"different"),
                          is_file("etc/passwd", b"inside"))),
        case("WhiteoutRootParent", "reject", "'.wh...' names the root's parent",
             *ETC, f(".wh...")),
        case("WhiteoutParent", "reject", "'etc/.wh...' names etc's parent",
             *ETC, f("etc/.wh...")),
        case("WhiteoutRoot", "reject", "'.wh..' names the root", *ETC, f(".wh..")),
        case("WhiteoutCurrentDirectory", "reject", "'etc/.wh..' names etc itself",
             *ETC, f("etc/.wh..")),
        case("WhiteoutSymlink", "contained",
             "a whiteout for a symlink of this same layer is skipped (OCI: whiteouts hide "
             "lower layers only); the symlink is neither followed nor removed",
             *ETC_ALL_USERS, s("localetc", "/etc"), f(".wh.localetc"),
             check=all_of(is_symlink("localetc", "/etc"), is_file("etc/passwd", b"all users"),
                          absent(".wh.localetc"))),
        case("WhiteoutSymlinkPath", "reject", parent_symlink,
             *ETC_ALL_USERS, f("/etc/whitedout", b"ahhhh whiteout"), s("localetc", "/etc"),
             f("localetc/.wh.whitedout")),
        case("WhiteoutDirectoryName", "reject", "a whiteout marker used as a directory",
             f(".wh.etc/somefile", b"non-empty")),
        case("WhiteoutDeadSymlinkParent", "reject", parent_symlink,
             *ETC_ALL_USERS, s("localetc", "/dne"), f("localetc/.wh.etc")),
        case("WhiteoutRelativePath", "contained",
             "'dne/../.wh.etc' cleans to '.wh.etc': a whiteout of etc, nothing else",
             f("dne/../.wh.etc"),
             check=all_of(is_whiteout("etc"), absent("dne"), absent(".wh.etc"))),
        case("HardlinkSymlinkBeforeCreateTarget", "contained",
             "a hardlink to a symlink links the symlink itself; its target stays text",
             d("etc", 0o770), s("localpasswd", "/etc/passwd"),
             h("localpasswd-dup", "localpasswd"), f("/etc/passwd", b"after"),
             check=all_of(is_symlink("localpasswd-dup", "/etc/passwd"),
                          same_inode("localpasswd-dup", "localpasswd"),
                          is_file("etc/passwd", b"after"))),
        case("HardlinkSymlinkRelative", "contained",
             "a hardlink to a symlink links the symlink itself; its target stays text",
             *ETC, s("passwdlink", "../../../../../etc/passwd"), h("localpasswd", "/passwdlink"),
             check=all_of(is_symlink("localpasswd", "../../../../../etc/passwd"),
                          same_inode("localpasswd", "passwdlink"))),
        case("HardlinkSymlinkAbsolute", "contained",
             "a hardlink to a symlink links the symlink itself; its target stays text",
             *ETC, s("passwdlink", "/etc/passwd"), h("localpasswd", "/passwdlink"),
             check=all_of(is_symlink("localpasswd", "/etc/passwd"),
                          same_inode("localpasswd", "passwdlink"))),
        case("HardlinkSymlinkChmod", "contained",
             "modes are never applied through a symlink (CVE-2021-32760); the hardlink to "
             "it carries no metadata. Upstream's absolute host path is outside/ here",
             s("/outside/also-exists-outside-root", "../../outside/perm400", mode=0o777),
             h("sketchylink", "/outside/also-exists-outside-root", mode=0o777),
             check=all_of(same_inode("sketchylink", "outside/also-exists-outside-root"),
                          is_symlink("sketchylink", "../../outside/perm400"),
                          outside_mode("perm400", 0o400))),
    ]
    # fmt: on


def _moby() -> list[BreakoutCase]:
    archive = "moby pkg/archive"
    chroot = "moby pkg/chrootarchive"

    def case(
        name: str, origin: str, expect: Expect, why: str, *members: bytes, check: Check = no_check
    ) -> BreakoutCase:
        return BreakoutCase(name, origin, tar(*members), expect, why, check)

    loophole_h = h("loophole-victim", "../outside", mode=0o755)
    loophole_s = s("loophole-victim", "../outside", mode=0o755)
    # fmt: off
    return [
        case("TestUntarInvalidFilenames/dotdot", archive, "reject", "'..' escapes the root",
             f("../outside/dotdot", b"pwned")),
        case("TestUntarInvalidFilenames/slash-dotdot", archive, "reject",
             "'/..' escapes the root; the leading slash does not clamp it",
             f("/../outside/slash-dotdot", b"pwned")),
        case("TestUntarHardlinkToSymlink", archive, "contained",
             "a hardlink to a symlink is the symlink, created before its target",
             s("symlink1", "regfile", mode=0o644), h("symlink2", "symlink1"), f("regfile"),
             check=all_of(is_symlink("symlink2", "regfile"), same_inode("symlink1", "symlink2"),
                          is_file("regfile", b""))),
        case("TestUntarInvalidHardlink/dotdot", archive, "reject",
             "hardlink target escapes the root", h("dotdot", "../outside/hello")),
        case("TestUntarInvalidHardlink/slash-dotdot", archive, "reject",
             "hardlink target escapes the root", h("slash-dotdot", "/../outside/hello")),
        case("TestUntarInvalidHardlink/loophole-write", archive, "reject",
             "hardlink to a directory outside", loophole_h, f("loophole-victim/file")),
        case("TestUntarInvalidHardlink/loophole-symlink", archive, "reject",
             "hardlink to a directory outside", loophole_h, s("symlink", "loophole-victim/hello")),
        case("TestUntarInvalidHardlink/loophole-hardlink", archive, "reject",
             "hardlink to a directory outside", loophole_h, h("hardlink", "loophole-victim/hello")),
        case("TestUntarInvalidHardlink/loophole-remove", archive, "reject",
             "hardlink to a directory outside", loophole_h, f("loophole-victim")),
        case("TestUntarInvalidSymlink/dotdot", archive, "contained",
             "a symlink pointing out is only text", s("dotdot", "../outside/hello", mode=0o644),
             check=is_symlink("dotdot", "../outside/hello")),
        case("TestUntarInvalidSymlink/slash-dotdot", archive, "contained",
             "a symlink pointing out is only text",
             s("slash-dotdot", "/../outside/hello", mode=0o644),
             check=is_symlink("slash-dotdot", "/../outside/hello")),
        case("TestUntarInvalidSymlink/loophole-write", archive, "reject",
             "an entry's parent is a symlink", loophole_s, f("loophole-victim/file")),
        case("TestUntarInvalidSymlink/symlink-symlink", archive, "contained",
             "symlinks to symlinks are only text",
             loophole_s, s("symlink", "loophole-victim/hello", mode=0o644),
             check=all_of(is_symlink("loophole-victim", "../outside"),
                          is_symlink("symlink", "loophole-victim/hello"))),
        case("TestUntarInvalidSymlink/symlink-hardlink", archive, "reject",
             "the hardlink target passes through a symlink",
             loophole_s, h("hardlink", "loophole-victim/hello")),
        case("TestUntarInvalidSymlink/loophole-remove", archive, "contained",
             "the later file replaces the symlink itself; the directory it named stays",
             loophole_s, f("loophole-victim"),
             check=is_file("loophole-victim", b"")),
        case("TestUntarInvalidSymlink/dir-loophole", archive, "reject",
             "an entry's parent is a symlink",
             s("dir/loophole", "../../outside", mode=0o755), f("dir/loophole/newdir/newfile")),
        case("TestUntarWithMaliciousSymlinks", chroot, "reject",
             "writing through a symlink to the host (CVE-2018-15664), in-layer form",
             s("safe", "../outside"), f("safe/host-file", b"pwn3d")),
        case("TestChrootApplyDotDotFile", chroot, "contained",
             "names that merely start with dots are ordinary names",
             f("..gitme"), f("...", b"dots"), d("..dir"), f("..dir/..file", b"x"),
             check=all_of(is_file("..gitme", b""), is_file("...", b"dots"),
                          is_file("..dir/..file", b"x"))),
    ]
    # fmt: on


def _berth() -> list[BreakoutCase]:
    def case(
        name: str, expect: Expect, why: str, *members: bytes, check: Check = no_check
    ) -> BreakoutCase:
        return BreakoutCase(name, "berth", tar(*members), expect, why, check)

    # fmt: off
    return [
        case("SymlinkRelativePath", "reject", "an entry's parent is a symlink",
             d("d"), s("d/up", "../../outside"), f("d/up/pwned", b"pwned")),
        case("SymlinkEvil", "contained",
             "a file over a symlink replaces the symlink; it is not written through",
             s("evil", "../outside/hello"), f("evil", b"pwned"),
             check=is_file("evil", b"pwned")),
        case("HardlinkRelativeLink", "reject", "the hardlink target climbs above the root",
             f("a/file"), h("l", "a/../../outside/hello")),
        case("HardlinkLinkToSymlink", "contained",
             "a file over a hardlinked symlink replaces it; nothing is written through",
             s("s", "../outside/hello"), h("h", "s"), f("h", b"pwned"),
             check=all_of(is_file("h", b"pwned"), is_symlink("s", "../outside/hello"))),
        case("DirectoryOverrideSymlinkAndSymlink", "contained",
             "each later entry replaces the earlier one at its path, never following it",
             s("d", "../outside"), d("d"), s("d/s", "../../outside/hello"), f("d/s", b"pwned"),
             check=all_of(is_dir("d"), is_file("d/s", b"pwned"))),
        case("SymlinkOverridePath", "reject",
             "a later symlink replaces a directory, then a third entry writes through it",
             d("d"), f("d/f"), s("d", "../outside"), f("d/pwned", b"pwned")),
        case("WhiteoutDirectoryPath", "reject", "the whiteout's path climbs out",
             f("etc/../../outside/.wh.hello")),
        case("OpaqueThroughSymlink", "reject", "an entry's parent is a symlink",
             s("d", "../outside"), f("d/.wh..wh..opq")),
        case("WhiteoutConverted", "contained",
             "whiteout and opaque markers become overlay form; markers are never written",
             d("etc"), f("etc/.wh.gone", b"data"), f("etc/.wh..wh..opq"),
             check=all_of(is_whiteout("etc/gone"), has_xattr("etc", "trusted.overlay.opaque", b"y"),
                          absent("etc/.wh.gone"), absent("etc/.wh..wh..opq"))),
        case("DeviceOverSymlink", "contained",
             "a device node replaces the symlink at its path",
             s("null", "../outside/hello"), c("null", 1, 3),
             check=is_device("null", 1, 3)),
        case("ReservedOverlayXattr", "contained",
             "trusted.overlay.* xattrs are engine-reserved and dropped",
             f("redirected", pax_headers={"SCHILY.xattr.trusted.overlay.redirect": "/x",
                                          "SCHILY.xattr.user.kept": "yes"}),
             check=all_of(no_xattr("redirected", "trusted.overlay.redirect"),
                          has_xattr("redirected", "user.kept", b"yes"))),
        case("UstarPrefixDotDot", "reject", "the ustar prefix field climbs out",
             raw(b"pwned", prefix=b"../outside")),
        case("GnuLongNameDotDot", "reject", "a GNU long name climbs out",
             gnu("../outside/" + "x" * 120, b"pwned")),
        case("PaxPathDotDot", "reject", "the PAX path climbs out, whatever ustar says",
             pax("innocent", tarfile.REGTYPE, {"path": "../outside/pwned"})),
        case("PaxPathNul", "reject", "a NUL inside a name",
             pax("innocent", tarfile.REGTYPE, {"path": "ok\x00/../../outside/pwned"})),
        case("PaxLinkpathEscape", "reject", "the PAX linkpath climbs out",
             pax("innocent", tarfile.LNKTYPE, {"linkpath": "../outside/hello"}, "innocent2")),
        case("LongComponent", "reject", "a path component over 255 bytes",
             f("a" * 256)),
        case("LongPath", "reject", "a path over 4096 bytes",
             f("/".join(["d" * 200] * 21))),
        case("UnknownTypeflag", "reject", "an entry type berth does not know",
             raw(b"dumpdir", typeflag=b"D")),
        case("SparseFile", "reject", "GNU sparse files are not supported",
             raw(b"sparse", typeflag=b"S")),
    ]
    # fmt: on


CASES: list[BreakoutCase] = [*_containerd(), *_moby(), *_berth()]
