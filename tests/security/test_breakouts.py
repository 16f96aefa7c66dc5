"""Malicious layers against the planner (pure) and the unpacker (real filesystem, as root).

Every corpus case runs twice: through the pure `LayerPlanner` with no filesystem at all,
and through `unpack_layer` into `<tmp>/layer` next to a sentinel tree `<tmp>/outside`.
Whatever the outcome, the sentinel tree, everything else under tmp and the host paths
the absolute-symlink cases aim at must be exactly as before, byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.snapshots.unpack import read_entries, unpack_layer
from berth.domain.layer_entries import LayerRejected
from berth.domain.layers import LayerPlanner

from .corpus import CASES
from .corpus_checks import HOST_SENTINELS, BreakoutCase, populate_outside
from .corpus_tar import f, tar
from .observe import sha256, tree_state


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
