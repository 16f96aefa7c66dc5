"""The trust policy's parser and decisions, the simple-signing payload, and the
X-Registry-Auth header: parsers never fail but with a 400, decisions as containers/image."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.reference import parse_reference
from berth.domain.registry_auth import decode_registry_auth, registry_host_of
from berth.domain.trust_policy import (
    ACCEPT_ANYTHING,
    REJECT,
    SIGSTORE,
    Identity,
    PolicyError,
    parse_payload,
    parse_policy,
    scopes_of,
    simple_signing_payload,
)

KEY = {"type": SIGSTORE, "keyPath": "/k.pub"}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _policy(**scopes: object) -> str:
    return json.dumps({"default": [{"type": ACCEPT_ANYTHING}], "transports": {"docker": scopes}})


def test_most_specific_scope_wins() -> None:
    policy = parse_policy(
        json.dumps(
            {
                "default": [{"type": REJECT}],
                "transports": {
                    "docker": {
                        "reg.example.com:5000/team/app:1": [{"type": ACCEPT_ANYTHING}],
                        "reg.example.com:5000/team": [KEY],
                        "*.example.com": [{"type": REJECT}],
                        "": [{"type": ACCEPT_ANYTHING}],
                    }
                },
            }
        )
    )
    decide = lambda text: policy.decide(parse_reference(text))  # noqa: E731
    assert decide("reg.example.com:5000/team/app:1").scope == "reg.example.com:5000/team/app:1"
    assert decide("reg.example.com:5000/team/app:2").needs_signature
    assert decide("other.example.com/x").rejected
    assert decide("busybox").scope == 'docker ""'


def test_scopes_of_a_reference() -> None:
    assert scopes_of(parse_reference("a.b.example.com:5000/ns/app:1")) == [
        "a.b.example.com:5000/ns/app:1",
        "a.b.example.com:5000/ns/app",
        "a.b.example.com:5000/ns",
        "a.b.example.com:5000",
        "*.b.example.com",
        "*.example.com",
        "*.com",
    ]


@pytest.mark.parametrize(
    "requirement",
    [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"},
        {"type": SIGSTORE},
        {"type": SIGSTORE, "keyPath": "/k", "keyData": "eA=="},
        {"type": SIGSTORE, "keyPath": "/k", "fulcio": {}},
        {**KEY, "signedIdentity": {"type": "remapIdentity", "prefix": "a", "signedPrefix": "b"}},
        {**KEY, "signedIdentity": {"type": "exactReference"}},
    ],
)
def test_what_berth_would_not_enforce_is_refused(requirement: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        parse_policy(_policy(**{"reg:5000": [requirement]}))


@settings(max_examples=60)
@given(JSON)
def test_any_json_is_a_policy_or_a_400(doc: object) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_policy(json.dumps(doc))


def test_identities() -> None:
    tagged, by_digest = (
        parse_reference("reg:5000/app:1"),
        parse_reference("reg:5000/app@sha256:" + "a" * 64),
    )
    repository_only = parse_payload(simple_signing_payload("reg:5000/app", "sha256:" + "a" * 64))
    exact = parse_payload(simple_signing_payload("reg:5000/app:1", "sha256:" + "a" * 64))
    other = parse_payload(simple_signing_payload("reg:5000/other", "sha256:" + "a" * 64))
    assert not repository_only.exact and exact.exact
    assert Identity("matchRepository").accepts(tagged, repository_only)
    assert not Identity("matchRepository").accepts(tagged, other)
    assert not Identity("matchRepoDigestOrExact").accepts(tagged, repository_only)
    assert Identity("matchRepoDigestOrExact").accepts(tagged, exact)
    assert Identity("matchRepoDigestOrExact").accepts(by_digest, repository_only)
    assert not Identity("matchExact").accepts(tagged, repository_only)
    assert Identity("exactReference", "reg:5000/app:1").accepts(by_digest, exact)
    assert Identity("exactRepository", "reg:5000/app").accepts(by_digest, repository_only)


@settings(max_examples=60)
@given(st.binary(max_size=64) | JSON.map(lambda d: json.dumps(d).encode()))
def test_any_payload_is_a_claim_or_a_400(data: bytes) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_payload(data)


def test_registry_auth_header() -> None:
    doc = {"username": "u", "password": "p:w", "serveraddress": "https://127.0.0.1:5000/v2/"}
    header = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    auth = decode_registry_auth(header)
    assert auth is not None and (auth.username, auth.password) == ("u", "p:w")
    assert registry_host_of(auth.server) == "127.0.0.1:5000"
    assert "p:w" not in repr(auth)
    assert decode_registry_auth("e30=") is None
    config_form = {"auth": base64.b64encode(b"u:secret").decode()}
    encoded = base64.urlsafe_b64encode(json.dumps(config_form).encode()).decode()
    assert decode_registry_auth(encoded) == type(auth)("u", "secret", "")
    assert registry_host_of("https://index.docker.io/v1/") == "docker.io"


@settings(max_examples=60)
@given(st.text(max_size=64) | JSON.map(lambda d: base64.b64encode(json.dumps(d).encode()).decode()))
def test_any_header_is_credentials_or_none(header: str) -> None:
    decode_registry_auth(header)
