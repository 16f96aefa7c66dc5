"""The `berth` image commands as a user runs them: real processes, a real registry."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from ..fixtures.images import busybox_image
from ..fixtures.registry import RunningRegistry

BERTH = Path(sys.executable).parent / "berth"


def berth(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BERTH), "--root", str(root), *args], capture_output=True, text=True, timeout=120
    )


def test_pull_images_tag_rmi(tmp_path: Path, registry: RunningRegistry) -> None:
    image = busybox_image()
    registry.push("library/busybox", image)
    reference = f"{registry.host}/library/busybox:latest"
    pulled = berth(tmp_path, "pull", "--json", "--insecure-registry", registry.host, reference)
    assert pulled.returncode == 0, pulled.stderr
    messages = [json.loads(line) for line in pulled.stdout.splitlines()]
    assert messages[0] == {"status": "Pulling from library/busybox", "id": "latest"}
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {reference}"}
    listed = berth(tmp_path, "images")
    assert f"{registry.host}/library/busybox" in listed.stdout
    assert image.config_digest[7:19] in listed.stdout
    assert berth(tmp_path, "tag", reference, "mine:1").returncode == 0
    removed = berth(tmp_path, "rmi", "mine:1")
    assert removed.stdout.strip() == "Untagged: mine:1"
    removed = berth(tmp_path, "rmi", reference)
    assert removed.stdout.splitlines()[-1] == f"Deleted: {image.config_digest}"
    assert image.config_digest[7:19] not in berth(tmp_path, "images").stdout


def test_pull_from_the_loopback_needs_no_insecure_flag(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    """As dockerd, whose insecure CIDRs always hold 127.0.0.0/8 (elsewhere HTTPS only:
    tests/adapters/test_registry_errors.py)."""
    registry.push("library/busybox", busybox_image())
    pulled = berth(tmp_path, "pull", f"{registry.host}/library/busybox")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "Downloaded newer image" in pulled.stdout


def test_import_and_a_missing_image_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("etc/motd")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    tarball = tmp_path / "rootfs.tgz"
    tarball.write_bytes(gzip.compress(buffer.getvalue()))
    imported = berth(tmp_path / "root", "import", str(tarball), "imported:1")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip().startswith("sha256:")
    assert "imported" in berth(tmp_path / "root", "images").stdout
    missing = berth(tmp_path / "root", "rmi", "nothing:here")
    assert missing.returncode == 1
    assert "No such image: nothing:here" in missing.stdout + missing.stderr


def test_run_of_an_image_not_yet_pulled_pulls_it_first(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    registry.push("library/busybox", busybox_image())
    reference = f"{registry.host}/library/busybox"
    cidfile = tmp_path / "cid"
    env_run = subprocess.run(
        [
            str(BERTH),
            "--root",
            str(tmp_path / "root"),
            "run",
            "--rm",
            "--cidfile",
            str(cidfile),
            reference,
            "echo",
            "pulled and ran",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "BERTH_INSECURE_REGISTRIES": registry.host},
    )
    assert env_run.returncode == 0, env_run.stderr
    assert f"Unable to find image '{reference}' locally" in env_run.stderr
    assert env_run.stdout == "pulled and ran\n"
    assert len(cidfile.read_text()) == 64
    again = berth(tmp_path / "root", "run", "--cidfile", str(cidfile), reference, "true")
    assert again.returncode == 125  # docker run: an engine error
    assert "Container ID file found" in again.stdout + again.stderr
    never = berth(tmp_path / "other", "run", "--pull", "never", reference, "true")
    assert never.returncode == 125 and "No such image" in never.stdout + never.stderr
