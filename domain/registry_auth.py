"""`X-Registry-Auth` and `/auth` bodies: registry credentials as the docker CLI sends them.

The header is base64url (padded or not) of a JSON object `{"username", "password",
"serveraddress", "identitytoken", "registrytoken"}`; the CLI sends `e30=` (`{}`) when it
has nothing. A header that is not that decodes to no credentials, as dockerd treats it.
`RegistryAuth.__repr__` never shows the password, so it cannot reach a log by accident.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameter

_HUB_ADDRESSES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_ADDRESS = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str = field(repr=False)
    server: str = ""

    def credentials_for(self, host: str) -> dict[str, tuple[str, str]]:
        """The client's credentials map: these, for the registry `host` being spoken to."""
        if not self.username and not self.password:
            return {}
        return {host: (self.username, self.password)}


def registry_host_of(server: str) -> str:
    """`https://127.0.0.1:5000/v2/` → `127.0.0.1:5000`; Docker Hub's names → `docker.io`."""
    text = server.strip()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    host = text.split("/", 1)[0]
    if not host or host in _HUB_ADDRESSES:
        return "docker.io"
    return host


def auth_from_document(doc: Any) -> RegistryAuth | None:
    """The credentials of an AuthConfig object (docker's JSON keys), or None for none."""
    if not isinstance(doc, dict):
        return None
    fields: dict[str, str] = {}
    for key in ("username", "password", "serveraddress", "identitytoken", "auth"):
        value = doc.get(key) or ""
        if not isinstance(value, str):
            raise InvalidParameter(f"invalid registry auth: {key} is not a string")
        fields[key] = value
    user, password = fields["username"], fields["password"]
    if fields["auth"] and not user:
        # config.json's form: base64 of "user:password".
        try:
            user, _, password = base64.b64decode(fields["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidParameter("invalid registry auth: auth is not base64") from None
    if fields["identitytoken"] and not password:
        # An OAuth refresh token stands for the password, as registry clients send it.
        user, password = user or "<token>", fields["identitytoken"]
    if not user and not password:
        return None
    return RegistryAuth(user, password, fields["serveraddress"])


def decode_registry_auth(header: str) -> RegistryAuth | None:
    """The credentials an `X-Registry-Auth` header carries, if any."""
    text = header.strip()
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    try:
        return auth_from_document(doc)
    except InvalidParameter:
        return None
