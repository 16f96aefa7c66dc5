"""`docker push`, `docker save` and `docker login` through berthd, and berth's own
push/save/login commands, against real registries (with and without htpasswd auth)."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess, run

import httpx

from tests.fixtures.images import Image, make_image
from tests.fixtures.layers import busybox_layer, make_layer
from tests.fixtures.registry import RunningRegistry

from .berth_cli import berth
from .conftest import BIN, Berthd


def _login(daemon: Berthd, host: str, user: str, password: str) -> CompletedProcess[str]:
    argv = daemon.docker_argv("login", "-u", user, "--password-stdin", host)
    env = daemon.docker_env()
    return run(argv, input=password + "\n", capture_output=True, text=True, env=env, timeout=60)


def _berth_as(daemon: Berthd, config: Path, *args: str, input: str = "") -> CompletedProcess[str]:
    """berth with `config` as its docker config directory."""
    argv = [str(BIN / "berth"), "-H", f"unix://{daemon.socket}", *args]
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    return run(argv, input=input, capture_output=True, text=True, env=env, timeout=60)


def _manifest_digest(registry: RunningRegistry, name: str, tag: str) -> str:
    accept = "application/vnd.docker.distribution.manifest.v2+json, "
    accept += "application/vnd.oci.image.manifest.v1+json"
    auth = registry.credentials
    answer = httpx.head(
        f"{registry.url}/v2/{name}/manifests/{tag}", headers={"Accept": accept}, auth=auth
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["docker-content-digest"]


def test_push_pull_back_save_load(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry, tmp_path: Path
) -> None:
    # A gzip layer and an uncompressed one (the save inflates the first on the way out).
    image = make_image([busybox_layer(), make_layer({"etc/app": b"v1"}, compression="none")])
    registry.push("src", image, tag="1")
    daemon = start_berthd(insecure=(registry.host,))
    source, target = f"{registry.host}/src:1", f"{registry.host}/app:1"
    assert berth(daemon, "pull", source).returncode == 0
    assert berth(daemon, "tag", source, target).returncode == 0
    pushed = berth(daemon, "push", "--json", target)
    assert pushed.returncode == 0, pushed.stderr
    messages = [json.loads(line) for line in pushed.stdout.splitlines()]
    assert messages[0] == {"status": f"The push refers to repository [{registry.host}/app]"}
    assert {m["status"] for m in messages if "id" in m} == {"Preparing", "Mounted from src"}
    assert messages[-2]["status"] == f"1: digest: {image.digest} size: {len(image.manifest.data)}"
    assert messages[-1]["aux"] == {
        "Tag": "1",
        "Digest": image.digest,
        "Size": len(image.manifest.data),
    }
    # Pulled back: the same manifest, so the same digest (a signature for it still holds).
    assert _manifest_digest(registry, "app", "1") == image.digest
    # An image with no kept manifest (committed) gets one written, and pulls back whole.
    created = daemon.docker("create", target, "true").stdout.strip()
    built = f"{registry.host}/built:1"
    assert daemon.docker("commit", created, built).returncode == 0
    assert berth(daemon, "push", built).returncode == 0
    digest = _manifest_digest(registry, "built", "1")
    image_id = daemon.docker("image", "inspect", "-f", "{{.Id}}", built).stdout.strip()
    assert daemon.docker("rm", created).returncode == 0
    assert daemon.docker("rmi", built).returncode == 0
    back = berth(daemon, "pull", "--json", built)
    assert back.returncode == 0, back.stderr
    assert f"Digest: {digest}" in back.stdout
    assert daemon.docker("image", "inspect", "-f", "{{.Id}}", built).stdout.strip() == image_id
    missing = berth(daemon, "push", f"{registry.host}/absent:1")
    assert missing.returncode == 1
    assert f"An image does not exist locally with the tag: {registry.host}/absent" in missing.stderr
    _save_load_round_trip(daemon, registry, image, source, tmp_path)


def test_login_and_push_through_berthd(
    start_berthd: Callable[..., Berthd], basic_registry: RunningRegistry, tmp_path: Path
) -> None:
    registry = basic_registry
    assert registry.credentials is not None
    user, password = registry.credentials
    registry.push("src", make_image([busybox_layer()]), tag="1")
    daemon = start_berthd(insecure=(registry.host,))
    source = f"{registry.host}/src:1"
    refused = daemon.docker("pull", source)
    assert refused.returncode == 1
    assert "no basic auth credentials" in refused.stderr or "denied" in refused.stderr
    bad = _login(daemon, registry.host, user, "nope")
    assert bad.returncode == 1
    assert "401" in bad.stderr or "unauthorized" in bad.stderr.lower()
    good = _login(daemon, registry.host, user, password)
    assert good.returncode == 0, good.stderr
    assert "Login Succeeded" in good.stdout
    assert daemon.docker("pull", source).returncode == 0
    target = f"{registry.host}/pushed:2"
    assert daemon.docker("tag", source, target).returncode == 0
    pushed = daemon.docker("push", target)
    assert pushed.returncode == 0, pushed.stderr
    assert "2: digest: sha256:" in pushed.stdout
    # berth's own login: checked by the engine, kept in docker's config.json (0600).
    config = tmp_path / "berth-config"
    login = ("login", "-u", user, "--password-stdin", registry.host)
    assert _berth_as(daemon, config, *login, input="nope").returncode == 1
    assert not (config / "config.json").exists()
    logged = _berth_as(daemon, config, *login, input=password)
    assert (logged.returncode, logged.stdout) == (0, "Login Succeeded\n"), logged.stderr
    assert (config / "config.json").stat().st_mode & 0o777 == 0o600
    assert daemon.docker("tag", source, f"{registry.host}/pushed:3").returncode == 0
    anonymous = _berth_as(daemon, tmp_path / "none", "push", f"{registry.host}/pushed:3")
    assert anonymous.returncode == 1
    assert "unauthorized" in anonymous.stderr
    pushed = _berth_as(daemon, config, "push", f"{registry.host}/pushed:3")
    assert pushed.returncode == 0, pushed.stderr
    out = _berth_as(daemon, config, "logout", registry.host)
    assert out.stdout == f"Removing login credentials for {registry.host}\n"
    assert registry.host not in (config / "config.json").read_text()
    # Credentials never reach the event log, nor berthd's output.
    assert password.encode() not in (daemon.root / "events.db").read_bytes()
    assert password not in daemon.log()


def _save_load_round_trip(
    daemon: Berthd, registry: RunningRegistry, image: Image, ref: str, tmp_path: Path
) -> None:
    image_id = daemon.docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()
    by_docker, by_berth = tmp_path / "docker.tar", tmp_path / "berth.tar"
    saved = daemon.docker("save", "-o", str(by_docker), ref)
    assert saved.returncode == 0, saved.stderr
    assert berth(daemon, "save", "-o", str(by_berth), ref, "busybox").returncode == 0
    with tarfile.open(by_docker) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert entry["RepoTags"] == [ref]
        assert entry["Config"] == image_id[7:] + ".json"
        assert json.loads(tar.extractfile("repositories").read()) == {  # type: ignore[union-attr]
            f"{registry.host}/src": {"1": entry["Layers"][-1].split("/")[0]}
        }
    # skopeo reads dockerd's format: what it sees is the same image.
    inspected = run(
        ["skopeo", "inspect", "--config", f"docker-archive:{by_docker}"],
        capture_output=True,
        text=True,
        check=True,
    )
    diff_ids = json.loads(image.config.data)["rootfs"]["diff_ids"]
    assert json.loads(inspected.stdout)["rootfs"]["diff_ids"] == diff_ids
    assert daemon.docker("rmi", ref).returncode == 0
    loaded = daemon.docker("load", "-i", str(by_berth))
    assert loaded.returncode == 0, loaded.stderr
    assert f"Loaded image: {ref}" in loaded.stdout
    assert daemon.docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip() == image_id
    run_it = daemon.docker("run", "--rm", ref, "sh", "-c", "read line </etc/app; echo $line")
    assert (run_it.returncode, run_it.stdout) == (0, "v1\n"), run_it.stderr
    missing = daemon.docker("save", "-o", str(tmp_path / "none.tar"), "nothere:1")
    assert missing.returncode == 1
    assert "No such image: nothere:1" in missing.stderr
