"""Image references: parsing and normalisation as `docker` does it.

This follows distribution/reference's grammar and `ParseNormalizedNamed` as vendored in
dockerd 20.10, so `busybox` means `docker.io/library/busybox:latest` and a reference
that Docker refuses is refused here with Docker's message:

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]          host: DNS-ish name, IPv4, or [IPv6]
    path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex

The first component is a domain only when it contains `.` or `:` or is `localhost`;
otherwise the name lives on Docker Hub, where one-component names get `library/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

# Go's RE2 `\w` and `[[:xdigit:]]` are ASCII-only; Python's `\w` is not, so the classes
# are spelled out. Separators use `-+` (not the older `-*`): the language is the same and
# Python's backtracking engine stays linear on long runs of letters.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
_ANCHORED_NAME = re.compile(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
# opencontainers/go-digest's own, looser, grammar; it decides "format" vs "unsupported".
_GO_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_HEX = re.compile(r"[a-f0-9]+")
# The algorithms dockerd links in, with their digest size in bytes.
_ALGORITHMS: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}

ERR_REFERENCE_INVALID_FORMAT = "invalid reference format"
ERR_NAME_CONTAINS_UPPERCASE = "invalid reference format: repository name must be lowercase"
ERR_NAME_EMPTY = "repository name must have at least one component"
ERR_NAME_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
ERR_DIGEST_INVALID_FORMAT = "invalid checksum digest format"
ERR_DIGEST_INVALID_LENGTH = "invalid checksum digest length"
ERR_DIGEST_UNSUPPORTED = "unsupported digest algorithm"


@dataclass(frozen=True)
class ImageReference:
    """A normalised reference: `domain` and `path` always set, tag and/or digest optional.

    `parse_reference` fills in the default tag, so a parsed reference has a tag unless
    it was given by digest only.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The full repository name, e.g. `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker's UI shows it: Hub's domain and `library/` dropped."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            rest = self.path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in rest:
                return rest
        return self.path

    @property
    def familiar(self) -> str:
        """Docker's short form, e.g. `busybox:latest` or `localhost:5000/a/b@sha256:...`."""
        return self.familiar_name + self._suffix()

    def __str__(self) -> str:
        return self.repository + self._suffix()

    def _suffix(self) -> str:
        tag = self.tag
        if tag is None and self.digest is None:
            tag = DEFAULT_TAG
        out = f":{tag}" if tag is not None else ""
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise a reference as `reference.ParseNormalizedNamed` + `TagNameOnly`.

    Raises InvalidParameter with Docker's message for anything Docker refuses.
    """
    if not isinstance(text, str):
        raise InvalidParameter(ERR_REFERENCE_INVALID_FORMAT)
    if _IDENTIFIER.fullmatch(text):
        raise InvalidParameter(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidParameter(ERR_NAME_CONTAINS_UPPERCASE)
    return _parse(f"{domain}/{remainder}")


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse(text: str) -> ImageReference:
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if text == "":
            raise InvalidParameter(ERR_NAME_EMPTY)
        if _REFERENCE.fullmatch(text.lower()):
            raise InvalidParameter(ERR_NAME_CONTAINS_UPPERCASE)
        raise InvalidParameter(ERR_REFERENCE_INVALID_FORMAT)
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidParameter(ERR_NAME_TOO_LONG)
    name_match = _ANCHORED_NAME.fullmatch(name)
    if name_match is None or name_match.group(1) is None:
        # Docker would keep e.g. `a_b.c/x` as a reference with no domain, which no
        # registry client can use; refuse it outright.
        raise InvalidParameter(ERR_REFERENCE_INVALID_FORMAT)
    if digest is not None:
        error = _digest_error(digest)
        if error is not None:
            raise InvalidParameter(error)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(name_match.group(1), name_match.group(2), tag, digest)


def _digest_error(text: str) -> str | None:
    """go-digest's `Digest.Validate`: None when valid, else its error text."""
    algorithm, colon, encoded = text.partition(":")
    if not colon or not algorithm or not encoded:
        return ERR_DIGEST_INVALID_FORMAT
    size = _ALGORITHMS.get(algorithm)
    if size is None:
        if not _GO_DIGEST.fullmatch(text):
            return ERR_DIGEST_INVALID_FORMAT
        return ERR_DIGEST_UNSUPPORTED
    if len(encoded) != size * 2:
        return ERR_DIGEST_INVALID_LENGTH
    if not _HEX.fullmatch(encoded):
        return ERR_DIGEST_INVALID_FORMAT
    return None
