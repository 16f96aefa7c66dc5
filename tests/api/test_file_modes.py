"""berth's root after a realistic session: nothing in it is open to other local users.

The session (import, pull, create and run with a password in the environment, logs, a
published port, stop, an attached `run --rm`) goes through berthd and the docker CLI, as a
user's would. Then every path under the root is walked: a directory or file with any group
or other permission is a finding, unless it is container content that must keep the
modes it was given (listed below, each with its reason), and then it must sit below a
directory of berth's that is 0700.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.images import make_image
from tests.fixtures.layers import busybox_layer
from tests.fixtures.registry import RunningRegistry

from .conftest import Berthd

ID = "[0-9a-f]{64}"
# Paths (relative to the root) that keep modes berth does not choose, and why.
CONTAINER_CONTENT = {
    # The image's files, with the modes its layers give them: the container's users
    # need them as the image says.
    rf"snapshots/layers/{ID}/diff(/.*)?": "an image layer's content",
    # A container's root filesystem: its / must be 0755 for its non-root users.
    rf"snapshots/containers/{ID}/(upper|work|merged)(/.*)?": "a container's root filesystem",
    r"snapshots/empty": "the lower layer of a container with no image layers",
    # Bind-mounted into the container, where its non-root users read them.
    rf"containers/{ID}/(hosts|hostname|resolv\.conf)": "a container's network files",
    # Made by runc and conmon with their own modes, in berth's 0700 directories: runc's
    # state (its container directory 0711, state.json 0600), pids, exit statuses, runc's
    # messages and conmon's control FIFOs. A umask for conmon would narrow them, but runc
    # would then also make the mount points it creates in the container 0700.
    rf"run/runc/{ID}(/.*)?": "runc's state directory",
    rf"run/monitor/{ID}/(conmon\.pid|pid|runc\.log|exits/{ID}|persist/exit)": "conmon's files",
    rf"containers/{ID}/bundle/(ctl|winsz)": "conmon's control FIFOs",
}
_ALLOWED = re.compile("|".join(f"(?:{pattern})" for pattern in CONTAINER_CONTENT))


def exposed_paths(root: Path) -> list[str]:
    """Paths under `root` that another user could read, write or enter, as `MODE path`."""
    found = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            try:
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & 0o077:
                    continue  # a symlink's own mode means nothing
                relative = str(path.relative_to(root))
                if _ALLOWED.fullmatch(relative) and _guarded(root, path):
                    continue
            except FileNotFoundError:
                continue  # a removed container's leftovers, deleted after its answer
            found.append(f"{stat.S_IMODE(mode):o} {relative}")
    return sorted(found)


def _guarded(root: Path, path: Path) -> bool:
    """Whether a directory of berth's between `root` and `path` shuts others out."""
    return any(
        not stat.S_IMODE(parent.stat().st_mode) & 0o077
        for parent in path.parents
        if parent != root and parent.is_relative_to(root)
    )


def test_a_root_after_a_session_is_open_to_no_other_user(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    registry.push("library/pulled", make_image([busybox_layer()]))
    daemon = start_berthd(insecure=(registry.host,))
    pulled = f"{registry.host}/library/pulled:latest"
    secret = f"hunter2-{uuid.uuid4().hex}"
    name = f"modes-{uuid.uuid4().hex[:8]}"
    steps = [
        ("pull", pulled),
        (
            "run",
            "--name",
            name,
            "-e",
            f"PASSWORD={secret}",
            "busybox",
            "sh",
            "-c",
            "echo $PASSWORD",
        ),
        ("logs", name),
        ("run", "-d", "--name", f"{name}-d", "-p", "127.0.0.1::80", "busybox", "sleep", "60"),
        ("stop", "-t", "1", f"{name}-d"),
        ("run", "--rm", pulled, "echo", "done"),
    ]
    for step in steps:
        result = daemon.docker(*step)
        assert result.returncode == 0, (step, result.stderr)
    assert secret in daemon.docker("logs", name).stdout

    assert stat.S_IMODE(daemon.root.stat().st_mode) == 0o700
    exposed = exposed_paths(daemon.root)
    assert exposed == [], "\n".join(exposed)
