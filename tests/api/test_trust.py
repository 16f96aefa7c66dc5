"""The trust policy through berthd: signed images in cosign's layout verified at pull and
at create; unsigned, foreign-key, wrong-digest, tampered and wrong-repository signatures
refused with a clear message and nothing recorded but the refusal; a rejected registry;
no policy file keeps today's behaviour."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess, run

import pytest

from tests.fixtures.images import Image, make_image
from tests.fixtures.layers import busybox_layer, make_layer
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.signing import (
    PASSPHRASE,
    SigningKey,
    attach_signature,
    payload,
    sign_image,
    signature_layers,
)

from .berth_cli import berth
from .conftest import BIN, Berthd


def _image(registry: RunningRegistry, name: str) -> Image:
    image = make_image([busybox_layer(), make_layer({"etc/name": name.encode()})])
    registry.push(name, image, tag="1")
    return image


def _audit(daemon: Berthd) -> list[dict[str, object]]:
    listed = berth(daemon, "audit", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def _policy(path: Path, host: str, key: SigningKey, ed: SigningKey) -> None:
    def signed_by(signer: SigningKey) -> list[dict[str, object]]:
        identity = {"type": "matchRepository"}  # cosign names the repository only
        return [
            {
                "type": "sigstoreSigned",
                "keyPath": str(signer.public_path),
                "signedIdentity": identity,
            }
        ]

    port = host.rpartition(":")[2]
    doc = {
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": {
                host: signed_by(key),
                f"{host}/ed": signed_by(ed),
                f"localhost:{port}": [{"type": "reject"}],
            }
        },
    }
    path.write_text(json.dumps(doc))


@pytest.fixture
def signed(registry: RunningRegistry, tmp_path: Path) -> dict[str, object]:
    keys = tmp_path / "keys"
    key, other = SigningKey.create(keys, "trusted"), SigningKey.create(keys, "other")
    ed = SigningKey.create(keys, "ed", kind="ed25519")
    host = registry.host
    images = {
        name: _image(registry, name)
        for name in (
            "app",
            "ed",
            "unsigned",
            "otherkey",
            "otherdigest",
            "tampered",
            "otherrepo",
            "bsigned",
        )
    }
    sign_image(registry, key, "app", images["app"].digest)
    sign_image(registry, ed, "ed", images["ed"].digest)
    sign_image(registry, other, "otherkey", images["otherkey"].digest)
    # A genuine signature of app's manifest, stored as if it were otherdigest's.
    body = payload(f"{host}/otherdigest", images["app"].digest)
    attach_signature(registry, "otherdigest", images["otherdigest"].digest, body, key.sign(body))
    body = payload(f"{host}/tampered", images["tampered"].digest)
    forged = body.replace(b'"optional": null', b'"optional": {"by": "someone else"}')
    attach_signature(registry, "tampered", images["tampered"].digest, forged, key.sign(body))
    sign_image(registry, key, "otherrepo", images["otherrepo"].digest, f"{host}/app")
    return {"key": key, "ed": ed, "images": images}


def test_policy_at_pull_and_create(
    start_berthd: Callable[..., Berthd],
    registry: RunningRegistry,
    signed: dict[str, object],
    tmp_path: Path,
) -> None:
    host, port = registry.host, registry.host.rpartition(":")[2]
    policy = tmp_path / "policy.json"
    daemon = start_berthd(
        insecure=(host, f"localhost:{port}"), args=("--signature-policy", str(policy))
    )
    names = ("app", "ed", "unsigned", "otherkey", "otherdigest", "tampered", "otherrepo")
    # No policy file: anything is accepted, as before policies, and nothing is recorded.
    for name in names:
        assert daemon.docker("pull", f"{host}/{name}:1").returncode == 0
    assert not [e for e in _audit(daemon) if e["type"] == "trust"]
    key, ed = signed["key"], signed["ed"]
    assert isinstance(key, SigningKey) and isinstance(ed, SigningKey)
    _policy(policy, host, key, ed)

    refusals = {
        "unsigned": "no signature",
        "otherkey": "no signature verifies with key",
        "otherdigest": "the signature is for the manifest",
        "tampered": "no signature verifies with key",
        "otherrepo": f"the signature is for {host}/app",
    }
    before = _audit(daemon)
    for name, why in refusals.items():
        ref = f"{host}/{name}:1"
        created = daemon.docker("create", ref, "true")
        pulled = daemon.docker("pull", ref)
        for refused in (created, pulled):
            assert refused.returncode != 0
            assert f"image {ref} is not signed by a trusted key ({why}" in refused.stderr
            assert f"(policy: {policy} {host}" in refused.stderr
    # Nothing recorded but the refusals: no container, no image event, no name taken.
    after = _audit(daemon)[len(before) :]
    assert [(e["type"], e["action"]) for e in after] == [("trust", "PolicyRefused")] * 10
    assert daemon.docker("ps", "-aq").stdout == ""

    for name, signer in (("app", key), ("ed", ed)):
        ref = f"{host}/{name}:1"
        assert daemon.docker("pull", ref).returncode == 0
        container = daemon.docker("create", ref, "true")
        assert container.returncode == 0, container.stderr
        checked = [e for e in _audit(daemon) if e["action"] == "PolicyChecked"][-2:]
        assert [e["details"]["stage"] for e in checked] == ["pull", "create"]  # type: ignore[index]
        assert {e["details"]["key_id"] for e in checked} == {_key_id(signer)}  # type: ignore[index]
        assert daemon.docker("rm", container.stdout.strip()).returncode == 0

    # berth sign: cosign's encrypted key, the signature stored beside the image.
    ref = f"{host}/bsigned:1"
    assert daemon.docker("pull", ref).returncode != 0
    env = {"COSIGN_PASSWORD": PASSPHRASE}
    for _ in range(2):  # a second signature goes beside the first
        signing = _berth_env(daemon, env, "sign", "--key", str(key.private_path), ref)
        assert signing.returncode == 0, signing.stderr
    assert len(signature_layers(registry, "bsigned", signed_digest(signed, "bsigned"))) == 2
    assert daemon.docker("pull", ref).returncode == 0

    # The client flow of content trust: the tag pinned to the digest the engine verified.
    images = signed["images"]
    assert isinstance(images, dict)
    ref = f"{host}/app:1"
    pinned = _berth_env(daemon, {"DOCKER_CONTENT_TRUST": "1"}, "create", ref, "true")
    loose = _berth_env(
        daemon, {"DOCKER_CONTENT_TRUST": "1"}, "create", "--disable-content-trust", ref, "true"
    )
    for created, image in ((pinned, f"{host}/app@{images['app'].digest}"), (loose, ref)):
        assert created.returncode == 0, created.stderr
        container = created.stdout.strip()
        shown = daemon.docker("inspect", "-f", "{{.Config.Image}}", container).stdout
        assert shown.strip() == image
        assert daemon.docker("rm", container).returncode == 0

    rejected = daemon.docker("pull", f"localhost:{port}/app:1")
    assert rejected.returncode != 0
    assert f"image localhost:{port}/app:1 is rejected by policy" in rejected.stderr


def signed_digest(signed: dict[str, object], name: str) -> str:
    images = signed["images"]
    assert isinstance(images, dict)
    digest: str = images[name].digest
    return digest


def _berth_env(daemon: Berthd, env: dict[str, str], *args: str) -> CompletedProcess[str]:
    argv = [str(BIN / "berth"), "-H", f"unix://{daemon.socket}", *args]
    return run(argv, capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


def _key_id(key: SigningKey) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = key.private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()
