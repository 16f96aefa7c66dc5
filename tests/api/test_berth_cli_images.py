"""berth's own CLI against a berthd: images, tag, inspect, rmi, pull, load and import."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.fixtures.images import make_image
from tests.fixtures.layers import busybox_layer
from tests.fixtures.registry import RunningRegistry

from ..integration.conftest import busybox_tarball
from .berth_cli import berth
from .conftest import Berthd


def test_images_tag_inspect_rmi(berthd: Berthd) -> None:
    listed = berth(berthd, "images").stdout.splitlines()
    assert listed[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listed[1].split()[:2] == ["busybox", "latest"]
    assert berth(berthd, "tag", "busybox", "mybox:v1").returncode == 0
    assert "mybox" in berth(berthd, "images").stdout
    only = berth(berthd, "images", "mybox").stdout.splitlines()
    assert [line.split()[:2] for line in only[1:]] == [["mybox", "v1"]]
    assert berth(berthd, "images", "-q", "--filter", "dangling=true").stdout == ""
    inspected = berth(berthd, "inspect", "mybox:v1")
    assert inspected.returncode == 0, inspected.stderr
    (image,) = json.loads(inspected.stdout)
    assert image["Id"].startswith("sha256:")
    assert berth(berthd, "images", "-q").stdout.strip() == image["Id"][7:19]
    removed = berth(berthd, "rmi", "mybox:v1")
    assert (removed.returncode, removed.stdout) == (0, "Untagged: mybox:v1\n")
    missing = berth(berthd, "rmi", "nothere")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error response from daemon:")


def test_pull_and_run_of_an_image_not_yet_pulled(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    registry.push("library/busybox", make_image([busybox_layer()]))
    registry.push("library/other", make_image([busybox_layer()]))
    daemon = start_berthd(insecure=(registry.host,))
    ref = f"{registry.host}/library/busybox:latest"
    pull = berth(daemon, "pull", ref)
    assert pull.returncode == 0, pull.stderr
    assert pull.stdout.splitlines()[-1] == ref
    assert f"{registry.host}/library/busybox" in berth(daemon, "images").stdout
    as_json = berth(daemon, "pull", "--json", ref)
    messages = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert messages[-1]["status"].startswith("Status: Image is up to date for")
    other = f"{registry.host}/library/other:latest"
    run = berth(daemon, "run", "--rm", other, "echo", "pulled")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "pulled\n"
    assert f"Unable to find image '{other}' locally" in run.stderr
    never = berth(daemon, "run", "--pull", "never", f"{registry.host}/library/absent", "true")
    assert never.returncode == 125
    assert "No such image" in never.stderr
    missing = berth(daemon, "pull", f"{registry.host}/library/absent:latest")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error response from daemon:")


def test_load_and_import_send_the_archive(
    berthd: Berthd, registry: RunningRegistry, tmp_path: Path
) -> None:
    registry.push("saved", make_image([busybox_layer()]))
    archive = tmp_path / "saved.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{registry.host}/saved:latest",
            f"docker-archive:{archive}:saved:v1",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    loaded = berth(berthd, "load", "-i", str(archive))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: saved:v1\n"), loaded.stderr
    imported = berth(
        berthd, "import", "-m", "by test", str(busybox_tarball(tmp_path / "bb.tar")), "imported:1"
    )
    assert imported.returncode == 0, imported.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", imported.stdout)
    listed = berth(berthd, "images").stdout
    assert "saved " in listed and "imported " in listed
    run = berth(berthd, "run", "--rm", "imported:1", "echo", "from-import")
    assert (run.returncode, run.stdout) == (0, "from-import\n"), run.stderr
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar archive")
    refused = berth(berthd, "load", "-i", str(broken))
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error response from daemon: invalid image archive")
