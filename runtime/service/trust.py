"""The trust gate: the engine's signature policy, applied at pull and at create.

The policy file (`--signature-policy`, default /etc/berth/policy.json) is read again
whenever it changes; no file means `insecureAcceptAnything`, berth's behaviour before
policies. A decision that needed a signature is recorded (`PolicyChecked` with the key
that signed, or `PolicyRefused` with why); a refusal raises `Untrusted` (403) after its
event is saved, and nothing else of the refused pull or create is recorded.

Signatures are cosign's, fetched through the registry client; the keys are PEM public
keys (ECDSA P-256 with SHA-256, or Ed25519), verified with `cryptography`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import trio

from berth.adapters.lazy_modules import lazy_module
from berth.adapters.registry import Registry, RegistryClient
from berth.adapters.registry.signatures import Signature
from berth.domain.cause import Actor, Cause
from berth.domain.errors import BerthError, Forbidden, InvalidParameter
from berth.domain.reference import ImageReference, parse_reference
from berth.domain.trust import TrustCheck
from berth.domain.trust_policy import (
    ACCEPT_ALL,
    SIGSTORE,
    Decision,
    Policy,
    PolicyError,
    Requirement,
    parse_payload,
    parse_policy,
)

from .engine import Engine

if TYPE_CHECKING:
    from cryptography import exceptions
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
else:
    exceptions = lazy_module("cryptography.exceptions")
    hashes = lazy_module("cryptography.hazmat.primitives.hashes")
    serialization = lazy_module("cryptography.hazmat.primitives.serialization")
    ec = lazy_module("cryptography.hazmat.primitives.asymmetric.ec")
    ed25519 = lazy_module("cryptography.hazmat.primitives.asymmetric.ed25519")

DEFAULT_POLICY = Path("/etc/berth/policy.json")
Pending = Callable[[Cause], TrustCheck]


class Untrusted(Forbidden):
    """An image the policy keeps out (403)."""


@dataclass(frozen=True)
class Key:
    public: PublicKey
    id: str  # sha256 of the key's SubjectPublicKeyInfo, as `berth audit` shows it

    def verifies(self, signature: Signature) -> bool:
        try:
            if isinstance(self.public, ed25519.Ed25519PublicKey):
                self.public.verify(signature.signature, signature.payload)
            else:
                self.public.verify(
                    signature.signature, signature.payload, ec.ECDSA(hashes.SHA256())
                )
        except exceptions.InvalidSignature:
            return False
        return True


def load_key(pem: bytes, where: str) -> Key:
    try:
        public = serialization.load_pem_public_key(pem)
    except ValueError:
        raise PolicyError(f"invalid policy: {where} is not a PEM public key") from None
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name != "secp256r1":
        raise PolicyError(f"invalid policy: {where}: only P-256 ECDSA keys are supported")
    if not isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise PolicyError(f"invalid policy: {where}: only ECDSA P-256 and Ed25519 keys")
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(public, "sha256:" + hashlib.sha256(der).hexdigest())


class TrustGate:
    """The policy of one engine, and the checks it makes."""

    def __init__(self, engine: Engine, path: Path | None = DEFAULT_POLICY) -> None:
        self.engine = engine
        self.path = path
        self._loaded: tuple[tuple[int, int, int], Policy] | None = None

    def policy(self) -> Policy:
        """The policy as the file says now (read again when it changed); none: accept all."""
        if self.path is None:
            return ACCEPT_ALL
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return ACCEPT_ALL
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._loaded is None or self._loaded[0] != stamp:
            self._loaded = (stamp, parse_policy(self.path.read_text()))
        return self._loaded[1]

    def needs_check(self, ref: ImageReference) -> tuple[Decision, list[Key]] | None:
        """The decision for `ref` and its keys, when it asks for more than accepting
        anything (one worker-thread hop for the file reads)."""
        decision = self.policy().decide(ref)
        if not (decision.rejected or decision.needs_signature):
            return None
        keys = [self._key(r) for r in decision.requirements if r.kind == SIGSTORE]
        return decision, keys

    async def check(
        self,
        registry: Registry,
        ref: ImageReference,
        digest: str,
        actor: Actor,
        stage: str,
    ) -> Pending | None:
        """`ref` (resolved to the manifest `digest`) satisfies the policy, or `Untrusted`
        (its refusal saved). Answers the `PolicyChecked` to record with what the caller
        records (one transaction), or None when the policy accepts anything here."""
        found = await trio.to_thread.run_sync(self.needs_check, ref)
        if found is None:
            return None
        decision, keys = found
        verdict = Verdict(ref, digest, stage, f"{self.path} {decision.scope}")
        if decision.rejected:
            await self._refuse(verdict, f"image {ref.familiar} is rejected by policy", actor)
        signatures: list[Signature] = []
        if digest and isinstance(registry, RegistryClient):
            signatures = await registry.signatures(ref, digest)
        signed = [r for r in decision.requirements if r.kind == SIGSTORE]
        for requirement, key in zip(signed, keys, strict=True):
            problem = _problem(requirement, key, signatures, ref, digest)
            if problem:
                message = f"image {ref.familiar} is not signed by a trusted key"
                await self._refuse(verdict, f"{message} ({problem})", actor)
        key_ids = ",".join(key.id for key in keys)
        return lambda cause: TrustCheck.checked(key_id=key_ids, **verdict.fields(cause))

    async def check_create(self, registry: Registry, image: object, actor: Actor) -> None:
        """A container's image satisfies the policy now (it may have changed since the
        pull, or the image came from an archive). An image given by id is judged by the
        reference it was pulled as."""
        if not isinstance(image, str) or not image or self.policy() is ACCEPT_ALL:
            return
        found = await trio.to_thread.run_sync(self._local_reference, image)
        if found is not None:
            pending = await self.check(registry, found[0], found[1], actor, "create")
            if pending is not None:
                cause = self.engine.cause(actor)
                await trio.to_thread.run_sync(lambda: self.engine.save(pending(cause)))

    def _local_reference(self, image: str) -> tuple[ImageReference, str] | None:
        """The reference `image` stands for and the manifest digest it was pulled at."""
        records = self.engine.images
        try:
            image_id = records.resolve(image)
        except BerthError:
            return None  # create answers its own 404 or 400
        found = records.aggregate(image_id)
        if found is None:
            return None
        pulled = [parse_reference(d) for d in found.repo_digests]
        if image_id.removeprefix("sha256:").startswith(image.removeprefix("sha256:")):
            ref = pulled[0] if pulled else parse_reference(f"{image_id[7:19]}")
        else:
            ref = parse_reference(image)
        same = [p.digest for p in pulled if p.repository == ref.repository and p.digest]
        return ref, ref.digest or (same[0] if same else "")

    async def _refuse(self, verdict: Verdict, message: str, actor: Actor) -> NoReturn:
        text = f"{message} (policy: {verdict.policy})"
        refused = TrustCheck.refused_by(reason=text, **verdict.fields(self.engine.cause(actor)))
        await trio.to_thread.run_sync(lambda: self.engine.save(refused))
        raise Untrusted(text)

    def _key(self, requirement: Requirement) -> Key:
        if requirement.key_data:
            return load_key(requirement.key_data, "keyData")
        try:
            return load_key(Path(requirement.key_path).read_bytes(), requirement.key_path)
        except OSError as error:
            path = requirement.key_path
            raise PolicyError(f"invalid policy: keyPath {path}: {error.strerror}") from None


@dataclass(frozen=True)
class Verdict:
    ref: ImageReference
    digest: str
    stage: str
    policy: str

    def fields(self, cause: Cause) -> dict[str, Any]:
        """The fields of the decision's event (a new TrustCheck of its own)."""
        return {
            "id": uuid.uuid4().hex,
            "cause": cause,
            "reference": str(self.ref),
            "digest": self.digest,
            "stage": self.stage,
            "policy": self.policy,
        }


def _problem(
    requirement: Requirement,
    key: Key,
    signatures: list[Signature],
    ref: ImageReference,
    digest: str,
) -> str:
    """Why no signature satisfies `requirement`; "" when one does."""
    if not signatures:
        return "no signature"
    problems = []
    for signature in signatures:
        if not key.verifies(signature):
            problems.append(f"no signature verifies with key {key.id}")
            continue
        try:
            claim = parse_payload(signature.payload)
        except InvalidParameter as error:
            problems.append(error.message)
            continue
        if claim.manifest_digest != digest:
            problems.append(f"the signature is for the manifest {claim.manifest_digest}")
        elif not requirement.identity.accepts(ref, claim):
            problems.append(f"the signature is for {claim.reference.familiar}")
        else:
            return ""
    # The most telling reason: a valid signature's mismatch says more than a foreign one.
    return sorted(problems, key=lambda p: p.startswith("no signature verifies"))[0]
