"""The breakout corpus of image layers, sent to a container with `PUT /archive` (`docker
cp` in) through a real berthd.

Each case goes into its own empty directory `/cases/<n>/layer` of one container, next to
the sentinel tree `/cases/<n>/outside` (the layout the corpus assumes), through the
container's root filesystem as berthd sees it. A case the image-layer policy rejects is
a 400 with the target left empty; a contained one is extracted and passes its check, or
is refused with a 400 when it holds overlay whiteouts, which a copy refuses. Whatever
the answer, the sentinel tree, every other case's directory and the host paths the
absolute-link cases aim at are exactly as before.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import docker

from ..fixtures.berthd import Berthd
from .corpus import CASES
from .corpus_checks import populate_outside
from .observe import tree_state
from .test_breakouts import host_state


def _dir_tar(names: list[str]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    return data.getvalue()


def _has_whiteout(layer: bytes) -> bool:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return any(Path(m.name).name.startswith(".wh.") for m in tar.getmembers())


def test_every_breakout_case_is_refused_or_contained_by_put_archive(berthd: Berthd) -> None:
    created = berthd.docker("create", "--name", "target", "busybox", "true")
    assert created.returncode == 0, created.stderr
    with docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41") as client:
        container_id = client.inspect_container("target")["Id"]
        names = ["cases/"] + [f"cases/{n}/layer/" for n in range(len(CASES))]
        assert client.put_archive("target", "/", _dir_tar(names))
        rootfs = berthd.root / "snapshots" / "containers" / container_id / "merged"
        for number in range(len(CASES)):
            populate_outside(rootfs / "cases" / str(number) / "outside")
        host_before = host_state()
        failures = []
        for number, case in enumerate(CASES):
            home = rootfs / "cases" / str(number)
            target = home / "layer"
            outside_before = tree_state(home / "outside")
            others_before = tree_state(rootfs, exclude=home, with_root=False)
            try:
                client.put_archive("target", f"/cases/{number}/layer", case.layer)
                answer = "extracted"
            except docker.errors.APIError as error:
                answer = f"{error.status_code} {error.explanation}"
            refused = answer.startswith("400 ")
            if case.expect == "reject" or (refused and _has_whiteout(case.layer)):
                if not refused or list(target.iterdir()):
                    failures.append((case.name, "not refused whole", answer))
            elif answer != "extracted":
                failures.append((case.name, "refused", answer))
            else:
                try:
                    case.check(target, home / "outside")
                except AssertionError as error:
                    failures.append((case.name, "check", str(error)))
            if tree_state(home / "outside") != outside_before:
                failures.append((case.name, "outside changed", answer))
            if tree_state(rootfs, exclude=home, with_root=False) != others_before:
                failures.append((case.name, "the rest of the container changed", answer))
        assert host_state() == host_before, "a host path changed"
    assert failures == [], json.dumps(failures, indent=1)
