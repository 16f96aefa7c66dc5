"""Image reference parsing: Docker's normalisation, its refusals, and idempotence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.reference import ImageReference, parse_reference

HEX = "0123456789abcdef" * 4
DIGEST = f"sha256:{HEX}"


@pytest.mark.parametrize(
    ("text", "full", "familiar", "parts"),
    [
        (
            "busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            ("docker.io", "library/busybox", "latest", None),
        ),
        (
            "busybox:1.36",
            "docker.io/library/busybox:1.36",
            "busybox:1.36",
            ("docker.io", "library/busybox", "1.36", None),
        ),
        (
            "library/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            ("docker.io", "library/busybox", "latest", None),
        ),
        (
            "docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            ("docker.io", "library/busybox", "latest", None),
        ),
        (
            "index.docker.io/busybox",
            "docker.io/library/busybox:latest",
            "busybox:latest",
            ("docker.io", "library/busybox", "latest", None),
        ),
        (
            "index.docker.io/user/app:v1",
            "docker.io/user/app:v1",
            "user/app:v1",
            ("docker.io", "user/app", "v1", None),
        ),
        (
            "user/app",
            "docker.io/user/app:latest",
            "user/app:latest",
            ("docker.io", "user/app", "latest", None),
        ),
        (
            "docker.io/library/a/b",
            "docker.io/library/a/b:latest",
            "library/a/b:latest",
            ("docker.io", "library/a/b", "latest", None),
        ),
        (
            "a/b/c/d",
            "docker.io/a/b/c/d:latest",
            "a/b/c/d:latest",
            ("docker.io", "a/b/c/d", "latest", None),
        ),
        (
            "localhost/foo",
            "localhost/foo:latest",
            "localhost/foo:latest",
            ("localhost", "foo", "latest", None),
        ),
        (
            f"localhost:5000/a/b@{DIGEST}",
            f"localhost:5000/a/b@{DIGEST}",
            f"localhost:5000/a/b@{DIGEST}",
            ("localhost:5000", "a/b", None, DIGEST),
        ),
        (
            "127.0.0.1:5055/library/busybox:latest",
            "127.0.0.1:5055/library/busybox:latest",
            "127.0.0.1:5055/library/busybox:latest",
            ("127.0.0.1:5055", "library/busybox", "latest", None),
        ),
        (
            f"busybox:1.36@{DIGEST}",
            f"docker.io/library/busybox:1.36@{DIGEST}",
            f"busybox:1.36@{DIGEST}",
            ("docker.io", "library/busybox", "1.36", DIGEST),
        ),
        (
            f"busybox@{DIGEST}",
            f"docker.io/library/busybox@{DIGEST}",
            f"busybox@{DIGEST}",
            ("docker.io", "library/busybox", None, DIGEST),
        ),
        (
            "Example.COM/foo",
            "Example.COM/foo:latest",
            "Example.COM/foo:latest",
            ("Example.COM", "foo", "latest", None),
        ),
        (
            "[::1]:5000/foo:bar",
            "[::1]:5000/foo:bar",
            "[::1]:5000/foo:bar",
            ("[::1]:5000", "foo", "bar", None),
        ),
        (
            "registry.example.com/a-b__c.d/e---f:Tag_1.0-x",
            "registry.example.com/a-b__c.d/e---f:Tag_1.0-x",
            "registry.example.com/a-b__c.d/e---f:Tag_1.0-x",
            ("registry.example.com", "a-b__c.d/e---f", "Tag_1.0-x", None),
        ),
        # Without a slash `foo:5000` is a name and a tag, not a registry.
        (
            "foo:5000",
            "docker.io/library/foo:5000",
            "foo:5000",
            ("docker.io", "library/foo", "5000", None),
        ),
        # Docker's own quirk: an image id with its algorithm parses as image `sha256`.
        (
            DIGEST,
            f"docker.io/library/sha256:{HEX}",
            f"sha256:{HEX}",
            ("docker.io", "library/sha256", HEX, None),
        ),
        (
            "busybox:" + "t" * 128,
            "docker.io/library/busybox:" + "t" * 128,
            "busybox:" + "t" * 128,
            ("docker.io", "library/busybox", "t" * 128, None),
        ),
        (
            f"busybox@sha512:{HEX * 2}",
            f"docker.io/library/busybox@sha512:{HEX * 2}",
            f"busybox@sha512:{HEX * 2}",
            ("docker.io", "library/busybox", None, f"sha512:{HEX * 2}"),
        ),
    ],
)
def test_valid_references_normalise(
    text: str, full: str, familiar: str, parts: tuple[str, str, str | None, str | None]
) -> None:
    ref = parse_reference(text)
    assert ref == ImageReference(*parts)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert ref.repository == f"{parts[0]}/{parts[1]}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference format"),
        ("Busybox", "invalid reference format: repository name must be lowercase"),
        ("user/App", "invalid reference format: repository name must be lowercase"),
        ("UPPER:tag", "invalid reference format: repository name must be lowercase"),
        ("localhost:5000/Foo", "invalid reference format: repository name must be lowercase"),
        (HEX, f"invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"),
        ("busybox:", "invalid reference format"),
        ("busybox:tag@", "invalid reference format"),
        (":tag", "invalid reference format"),
        ("busybox:-tag", "invalid reference format"),
        ("busybox:" + "t" * 129, "invalid reference format"),
        ("foo:bar:baz", "invalid reference format"),
        ("foo bar", "invalid reference format"),
        ("foo//bar", "invalid reference format"),
        ("-foo", "invalid reference format"),
        ("foo__-bar", "invalid reference format"),
        ("http://foo/bar", "invalid reference format"),
        ("foo@sha256:abc", "invalid reference format"),
        ("foo@sha256:" + "A" * 64, "invalid checksum digest format"),
        ("foo@sha256:" + "a" * 40, "invalid checksum digest length"),
        ("foo@md5:" + "a" * 32, "unsupported digest algorithm"),
        # Docker cuts the "name" at the first colon, so the algorithm counts as name here.
        ("foo@SHA256:" + HEX, "invalid reference format: repository name must be lowercase"),
        ("foo:v1@SHA256:" + HEX, "invalid checksum digest format"),
        ("a" * 240, "repository name must not be more than 255 characters"),
        # Docker would keep this without a domain; berth refuses it (see reference.py).
        ("a_b.c/foo", "invalid reference format"),
    ],
)
def test_invalid_references_are_refused_with_dockers_message(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        parse_reference(text)
    assert err.value.message == message
    assert err.value.http_status == 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DIGEST, True),
        (f"sha512:{HEX * 2}", True),
        (f"sha256:{HEX[:-1]}", False),
        (f"sha256:{HEX.upper()}", False),
        (f"md5:{HEX[:32]}", False),
        (HEX, False),
        ("sha256:", False),
        ("", False),
    ],
)
def test_a_digest_is_valid_as_go_digest_says(text: str, expected: bool) -> None:
    try:
        parse_reference(f"busybox@{text}")
    except InvalidParameter:
        assert not expected
    else:
        assert expected


def test_constructed_reference_without_tag_or_digest_prints_latest() -> None:
    ref = ImageReference("docker.io", "library/busybox")
    assert str(ref) == "docker.io/library/busybox:latest"
    assert ref.familiar == "busybox:latest"
    assert ref.familiar_name == "busybox"


_component = st.from_regex(r"[a-z0-9]{1,8}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,8}){0,2}", fullmatch=True)
_plain_component = st.from_regex(
    r"[a-z0-9]{1,8}(?:(?:_|__|-{1,3})[a-z0-9]{1,8}){0,2}", fullmatch=True
)
_domain = st.one_of(
    st.sampled_from(
        [
            "docker.io",
            "index.docker.io",
            "localhost",
            "localhost:5000",
            "127.0.0.1:5055",
            "registry.example.com",
            "Example.COM:443",
            "[::1]:5000",
            "[fe80::1]",
        ]
    ),
    st.from_regex(r"[a-z0-9]{1,10}(?:-[a-z0-9]{1,5})?\.[a-z]{2,5}(?::[0-9]{1,5})?", fullmatch=True),
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}", fullmatch=True)
_digest = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())


@st.composite
def reference_texts(draw: st.DrawFn) -> str:
    """Valid reference strings, in both familiar and fully qualified spellings."""
    # Without a domain in front, a first component with a dot would be taken for one.
    with_domain = draw(st.booleans())
    head = draw(_domain) + "/" + draw(_component) if with_domain else draw(_plain_component)
    rest = draw(st.lists(_component, max_size=3))
    text = "/".join([head, *rest])
    if draw(st.booleans()):
        text += ":" + draw(_tag)
    if draw(st.booleans()):
        text += "@" + draw(_digest)
    return text


@given(reference_texts())
def test_normalisation_is_idempotent(text: str) -> None:
    ref = parse_reference(text)
    assert parse_reference(str(ref)) == ref
    assert ref.tag is not None or ref.digest is not None
    first = ref.familiar_name.split("/")[0]
    if "." not in first and ":" not in first and first != "localhost":
        assert parse_reference(ref.familiar) == ref


@given(st.text())
def test_parse_refuses_arbitrary_text_only_with_invalid_parameter(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidParameter as err:
        assert err.http_status == 400
        assert err.message
    else:
        assert parse_reference(str(ref)) == ref


@given(st.from_regex(r"[a-zA-Z0-9:/@._-]{0,80}", fullmatch=True))
def test_parse_refuses_reference_like_text_only_with_invalid_parameter(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidParameter as err:
        assert err.http_status == 400
    else:
        assert parse_reference(str(ref)) == ref
