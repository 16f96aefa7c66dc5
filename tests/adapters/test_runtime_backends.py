"""Which OCI runtimes berthd offers and which is the default (adapters/runc/backends.py):
runc by default, crun where it works when asked for, with the reason when it does not
(ADR/0040)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from berth.adapters.runc import Runtime
from berth.adapters.runc.backends import choose_runtimes, hybrid_v2_controllers
from berth.adapters.runc.runtime import RUNTIME_FILE
from berth.domain.errors import BerthError

from .runc_harness import NEEDS_RUNC, Harness

pytestmark = pytest.mark.skipif(
    not (shutil.which("crun") and shutil.which("runc")), reason="needs crun and runc"
)


def layout(tmp_path: Path, *, v1: bool, v2_controllers: str | None) -> Path:
    """A mountinfo naming cgroup hierarchies under tmp_path, as /proc/self/mountinfo does."""
    lines = []
    if v1:
        (tmp_path / "memory").mkdir()
        lines.append(f"32 31 0:29 / {tmp_path}/memory rw - cgroup cgroup rw,memory")
    if v2_controllers is not None:
        (tmp_path / "unified").mkdir()
        (tmp_path / "unified" / "cgroup.controllers").write_text(v2_controllers + "\n")
        lines.append(f"40 31 0:35 / {tmp_path}/unified rw - cgroup2 cgroup2 rw")
    info = tmp_path / "mountinfo"
    info.write_text("".join(f"{line}\n" for line in lines))
    return info


def test_a_hybrid_layout_with_v2_controllers_leaves_crun_out_and_says_why(tmp_path: Path) -> None:
    info = layout(tmp_path, v1=True, v2_controllers="hugetlb")
    assert hybrid_v2_controllers(info) == ["hugetlb"]
    for wanted in (None, "crun"):
        choice = choose_runtimes(wanted, mountinfo=info)
        assert (choice.default, set(choice.binaries)) == ("runc", {"runc"})
        assert "crun refuses this hybrid cgroup layout" in choice.reason
        assert "hugetlb" in choice.describe() and "make cgroups" in choice.describe()


@pytest.mark.parametrize(
    ("v1", "v2_controllers"), [(True, ""), (False, "cpu memory pids"), (True, None)]
)
def test_crun_is_the_default_where_the_layout_lets_it_run_and_runc_there_too(
    tmp_path: Path, v1: bool, v2_controllers: str | None
) -> None:
    info = layout(tmp_path, v1=v1, v2_controllers=v2_controllers)
    choice = choose_runtimes(None, mountinfo=info)
    assert (choice.default, set(choice.binaries), choice.reason) == ("crun", {"crun", "runc"}, "")
    assert choice.describe() == "runtime=crun (also runc)"
    wanted = choose_runtimes("runc", mountinfo=info)
    assert (wanted.default, wanted.describe()) == ("runc", "runtime=runc (also crun)")


def test_a_missing_binary_is_left_out_and_none_at_all_is_an_error(tmp_path: Path) -> None:
    info = layout(tmp_path, v1=False, v2_controllers="")
    missing = str(tmp_path / "nowhere" / "crun")
    choice = choose_runtimes(None, {"crun": missing, "runc": "runc"}, mountinfo=info)
    assert choice.default == "runc" and "not on PATH" in choice.reason
    with pytest.raises(BerthError, match="no usable OCI runtime"):
        choose_runtimes(None, {"crun": missing, "runc": missing}, mountinfo=info)


@NEEDS_RUNC
async def test_a_container_made_before_the_runtime_was_recorded_stays_runcs(
    tmp_path: Path,
) -> None:
    """An engine from before ADR/0040 left no `runtime` file; a new one defaulting to
    crun drives that container with runc."""
    old = Harness(tmp_path, "runc")
    cid, _ = await old.run(["sleep", "100"])
    (old.state_dir / "monitor" / cid / RUNTIME_FILE).unlink()
    both = Runtime(old.state_dir, runtimes={"crun": "crun", "runc": "runc"}, default_runtime="crun")
    assert both.runtime_of(cid) == "runc"
    state = await both.state(cid)
    assert state is not None and state.status == "running"
    await both.kill(cid, "KILL")
    assert (await both.wait_exited(cid)).exit_code == 137
    await both.delete(cid)
    assert not both.knows(cid)
    assert not any(old.leftovers().values())
