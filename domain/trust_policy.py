"""The trust policy: containers-policy.json's model, the part berth enforces.

A policy names requirements per scope of the `docker` transport (`host/ns/repo:tag`,
`host/ns/repo`, `host/ns`, `host`, `*.example.com`), the most specific scope that matches
a reference wins, else the transport's `""` scope, else `default`. Every requirement of
the chosen list must hold: `insecureAcceptAnything`, `reject`, or `sigstoreSigned` (a
cosign signature by one public key whose simple-signing payload names the image's digest
and an identity `signedIdentity` accepts). A policy berth cannot enforce as written
(GPG's `signedBy`, `remapIdentity`, Fulcio certificates, other transports' keys it would
silently skip) is refused when read, never ignored.

Pure: the policy's text and the payloads' bytes come in, decisions go out.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParameter
from .reference import ImageReference, parse_reference

ACCEPT_ANYTHING = "insecureAcceptAnything"
REJECT = "reject"
SIGSTORE = "sigstoreSigned"
IDENTITY_TYPES = (
    "matchExact",
    "matchRepoDigestOrExact",
    "matchRepository",
    "exactReference",
    "exactRepository",
)
PAYLOAD_TYPES = ("cosign container image signature", "atomic container signature")


class PolicyError(InvalidParameter):
    """A policy file berth refuses to enforce (it would not mean what it says)."""


@dataclass(frozen=True)
class Identity:
    kind: str = "matchRepoDigestOrExact"
    reference: str = ""  # exactReference's dockerReference, exactRepository's repository

    def accepts(self, image: ImageReference, claim: SignedClaim) -> bool:
        """Whether a signature claiming `claim` may stand for the image pulled as `image`."""
        signed = claim.reference
        exact = claim.exact and str(image) == str(signed)
        if self.kind == "matchExact":
            return exact
        if self.kind == "matchRepoDigestOrExact":
            if image.digest is not None and image.tag is None:
                return image.repository == signed.repository
            return exact
        if self.kind == "matchRepository":
            return image.repository == signed.repository
        if self.kind == "exactReference":
            return claim.exact and str(parse_reference(self.reference)) == str(signed)
        return parse_reference(self.reference).repository == signed.repository


@dataclass(frozen=True)
class Requirement:
    kind: str
    key_path: str = ""
    key_data: bytes = b""
    identity: Identity = Identity()


@dataclass(frozen=True)
class Decision:
    """The requirements that apply to a reference, and the scope that chose them."""

    scope: str
    requirements: tuple[Requirement, ...]

    @property
    def needs_signature(self) -> bool:
        return any(r.kind == SIGSTORE for r in self.requirements)

    @property
    def rejected(self) -> bool:
        return any(r.kind == REJECT for r in self.requirements)


@dataclass(frozen=True)
class Policy:
    default: tuple[Requirement, ...]
    scopes: dict[str, tuple[Requirement, ...]]

    def decide(self, ref: ImageReference) -> Decision:
        """The requirements for `ref`: its most specific scope's, else the default's."""
        for scope in scopes_of(ref):
            if scope in self.scopes:
                return Decision(scope, self.scopes[scope])
        if "" in self.scopes:
            return Decision('docker ""', self.scopes[""])
        return Decision("default", self.default)


ACCEPT_ALL = Policy((Requirement(ACCEPT_ANYTHING),), {})


def scopes_of(ref: ImageReference) -> list[str]:
    """`ref`'s scopes, most specific first, as containers/image's docker transport."""
    exact = str(ref) if ref.digest is None else f"{ref.repository}@{ref.digest}"
    found = [exact]
    parts = ref.repository.split("/")
    found += ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    host = ref.domain.rsplit(":", 1)[0] if ":" in ref.domain else ref.domain
    labels = host.split(".")
    found += ["*." + ".".join(labels[n:]) for n in range(1, len(labels))]
    return found


def parse_policy(text: str) -> Policy:
    """A policy.json's text; PolicyError for anything berth would not enforce as written."""
    try:
        doc = json.loads(text)
    except ValueError as error:
        raise PolicyError(f"invalid policy: not JSON: {error}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("default"), list):
        raise PolicyError('invalid policy: a "default" list of requirements is required')
    transports = doc.get("transports") or {}
    if not isinstance(transports, dict):
        raise PolicyError('invalid policy: "transports" is not an object')
    scopes: dict[str, tuple[Requirement, ...]] = {}
    for transport, entries in transports.items():
        if transport != "docker":
            continue  # other transports' images never reach the engine
        if not isinstance(entries, dict):
            raise PolicyError('invalid policy: transports "docker" is not an object')
        for scope, requirements in entries.items():
            scopes[str(scope)] = _requirements(requirements, f"docker {scope!r}")
    return Policy(_requirements(doc["default"], "default"), scopes)


def _requirements(value: Any, where: str) -> tuple[Requirement, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(f"invalid policy: {where} needs a non-empty list of requirements")
    return tuple(_requirement(item, where) for item in value)


def _requirement(item: Any, where: str) -> Requirement:
    kind = item.get("type") if isinstance(item, dict) else None
    if kind in (ACCEPT_ANYTHING, REJECT):
        return Requirement(kind)
    if kind != SIGSTORE:
        raise PolicyError(f"invalid policy: {where}: requirement type {kind!r} is not supported")
    assert isinstance(item, dict)
    unknown = set(item) - {"type", "keyPath", "keyData", "signedIdentity"}
    if unknown:
        raise PolicyError(f"invalid policy: {where}: {sorted(unknown)} not supported")
    path, data = item.get("keyPath", ""), item.get("keyData", "")
    if not isinstance(path, str) or not isinstance(data, str) or bool(path) == bool(data):
        raise PolicyError(f"invalid policy: {where}: exactly one of keyPath and keyData")
    try:
        key_data = base64.b64decode(data, validate=True) if data else b""
    except binascii.Error:
        raise PolicyError(f"invalid policy: {where}: keyData is not base64") from None
    return Requirement(kind, path, key_data, _identity(item.get("signedIdentity"), where))


def _identity(value: Any, where: str) -> Identity:
    if value is None:
        return Identity()
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in IDENTITY_TYPES:
        raise PolicyError(f"invalid policy: {where}: signedIdentity {kind!r} is not supported")
    assert isinstance(value, dict)
    if kind == "exactReference":
        return Identity(kind, _named(value, "dockerReference", where))
    if kind == "exactRepository":
        return Identity(kind, _named(value, "dockerRepository", where))
    return Identity(kind)


def _named(value: dict[str, Any], key: str, where: str) -> str:
    text = value.get(key)
    if not isinstance(text, str) or not text:
        raise PolicyError(f"invalid policy: {where}: signedIdentity needs {key}")
    parse_reference(text)
    return text


@dataclass(frozen=True)
class SignedClaim:
    """What a simple-signing payload says: this manifest digest is this reference.
    `exact`: the reference names a tag or digest (cosign's name only the repository)."""

    reference: ImageReference
    manifest_digest: str
    exact: bool = True


def parse_payload(payload: bytes) -> SignedClaim:
    """A simple-signing payload (`critical.identity.docker-reference`, `critical.image.
    docker-manifest-digest`, `critical.type`); InvalidParameter for anything else."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        kind = critical["type"]
        reference = critical["identity"]["docker-reference"]
        digest = critical["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        raise InvalidParameter("invalid signature payload") from None
    if kind not in PAYLOAD_TYPES or not isinstance(reference, str) or not isinstance(digest, str):
        raise InvalidParameter("invalid signature payload")
    exact = "@" in reference or ":" in reference.rpartition("/")[2]
    return SignedClaim(parse_reference(reference), digest, exact)


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """The payload cosign signs for `repository@digest`: the identity is the repository
    (no tag), so a policy matches it with `matchRepository`."""
    doc = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPES[0],
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()
