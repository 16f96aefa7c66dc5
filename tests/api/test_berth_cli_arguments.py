"""berth's CLI stops reading its own options at the image, as docker's does.

Everything after the image of `run` and `create` is the container's command, options
included (`ls -l` is not `--label`); an unknown option before it is an error, exit 125.
Run with the real `berth` binary against a berthd.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .berth_cli import berth
from .conftest import Berthd


def test_run_options_after_the_image_are_the_commands(berthd: Berthd) -> None:
    listing = berth(berthd, "run", "--rm", "busybox", "ls", "-l", "/")
    assert listing.returncode == 0, listing.stderr
    # ls's long listing: a mode column for every entry, e.g. "drwxr-xr-x    2 root ..."
    lines = [line for line in listing.stdout.splitlines() if line.startswith("d")]
    assert any(line.split()[-1] == "bin" for line in lines), listing.stdout
    assert all(re.fullmatch(r"d[rwxst-]{9}", line.split()[0]) for line in lines), lines

    echoed = berth(berthd, "run", "--rm", "busybox", "echo", "--rm", "-d", "-l")
    assert (echoed.returncode, echoed.stdout, echoed.stderr) == (0, "--rm -d -l\n", "")
    assert berth(berthd, "ps", "-aq").stdout == ""


def test_create_keeps_the_commands_options_with_or_without_dashes(berthd: Berthd) -> None:
    for dashes in ((), ("--",)):
        made = berth(
            berthd, "create", "-l", "tier=web", *dashes, "busybox", "ls", "-l", "--name", "x"
        )
        assert made.returncode == 0, made.stderr
        inspected = berth(berthd, "inspect", made.stdout.strip())
        (doc,) = json.loads(inspected.stdout)
        assert doc["Config"]["Cmd"] == ["ls", "-l", "--name", "x"]
        assert doc["Config"]["Labels"] == {"tier": "web"}
        assert doc["Name"] != "/x"
        assert berth(berthd, "rm", made.stdout.strip()).returncode == 0


def test_an_unknown_option_before_the_image_is_refused(berthd: Berthd) -> None:
    for unknown in ("--no-such-option", "-y"):
        refused = berth(berthd, "run", "--rm", unknown, "busybox", "true")
        assert refused.returncode == 125, refused.stderr  # as docker's `unknown flag`
        assert unknown in refused.stderr
    assert berth(berthd, "ps", "-aq").stdout == ""


def test_storage_flags_reach_inspect(berthd: Berthd, tmp_path: Path) -> None:
    """The request of -v, --mount, --tmpfs, --volumes-from, --read-only as inspect shows
    it (what is mounted, and how, is the storage part's)."""
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    made = berth(
        berthd, "create",
        "-v", f"{host_dir}:/data:ro", "-v", "/anon",
        "--mount", f"type=bind,src={host_dir},dst=/also,bind-propagation=rslave",
        "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m",
        "--tmpfs", "/run:size=64m", "--read-only",
        "busybox", "true",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    container_id = made.stdout.strip()
    (doc,) = json.loads(berth(berthd, "inspect", container_id).stdout)
    host = doc["HostConfig"]
    assert host["Binds"] == [f"{host_dir}:/data:ro"]
    assert doc["Config"]["Volumes"] == {"/anon": {}}
    assert host["Mounts"] == [
        {
            "Type": "bind",
            "Source": str(host_dir),
            "Target": "/also",
            "BindOptions": {"Propagation": "rslave"},
        },
        {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1 << 20}},
    ]
    assert host["Tmpfs"] == {"/run": "size=64m"}
    assert host["ReadonlyRootfs"] is True
    follower = berth(berthd, "create", "--volumes-from", f"{container_id}:ro", "busybox", "true")
    assert follower.returncode == 0, follower.stderr
    (follower_doc,) = json.loads(berth(berthd, "inspect", follower.stdout.strip()).stdout)
    assert follower_doc["HostConfig"]["VolumesFrom"] == [f"{container_id}:ro"]
    for created in (follower.stdout.strip(), container_id):
        assert berth(berthd, "rm", created).returncode == 0
