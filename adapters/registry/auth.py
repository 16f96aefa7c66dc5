"""Registry authorization: `WWW-Authenticate` challenges, bearer tokens, basic auth.

Credentials are bound to the registry host they were configured for (CVE-2020-15157):
only requests to that host carry an Authorization header, and the basic credentials go
to nobody else but the token realm that host's own challenge named, and to that realm
only over HTTPS. A plain-HTTP realm is used only when its host:port is configured
insecure, or when the registry itself is insecure and the realm has the same host name. Tokens are
cached per (registry host, scope) until shortly before they expire.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from berth.adapters.lazy_modules import lazy_module

from .errors import RegistryError, Unauthorized

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

MAX_TOKEN_RESPONSE = 1024 * 1024
# dockerd treats a missing or tiny expires_in as 60 seconds.
MIN_TOKEN_LIFETIME = 60
EXPIRY_MARGIN = 5.0

_TOKEN68 = re.compile(r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*")
_PARAM = re.compile(
    r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(,|$)', re.S
)


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse `Bearer realm="…",service="…",scope="…"` (possibly several challenges)."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme_match = _TOKEN68.match(header, pos)
        if scheme_match is None:
            break
        scheme = scheme_match.group(1).lower()
        pos = scheme_match.end()
        params: dict[str, str] = {}
        while pos < len(header):
            match = _PARAM.match(header, pos)
            if match is None:
                break
            value = match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[match.group(1).lower()] = value
            pos = match.end()
        challenges.append(Challenge(scheme, params))
        if pos < len(header) and header[pos] == ",":
            pos += 1
    return challenges


Fetch = Callable[[str, dict[str, str]], Awaitable["httpx.Response"]]


class Authorizer:
    """Per-host authorization state for one RegistryClient."""

    def __init__(
        self,
        credentials: Mapping[str, tuple[str, str]],
        insecure: Collection[str],
        fetch: Fetch,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = dict(credentials)
        self._insecure = insecure
        self._fetch = fetch
        self._clock = clock
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._seen_tokens: set[str] = set()
        self.token_requests = 0

    def secrets(self) -> list[str]:
        """Every secret this authorizer knows, for redaction of error messages."""
        found: list[str] = []
        for user, password in self._credentials.values():
            found += [password, _basic(user, password).split(" ", 1)[1]]
        found += sorted(self._seen_tokens)
        return [s for s in found if len(s) >= 4]

    def learn(self, host: str, www_authenticate: str | None) -> bool:
        """Remember `host`'s challenge; True when it is one this client can answer."""
        for challenge in parse_www_authenticate(www_authenticate or ""):
            if challenge.scheme == "bearer" and challenge.params.get("realm"):
                self._challenges[host] = challenge
                return True
            if challenge.scheme == "basic" and host in self._credentials:
                self._challenges[host] = challenge
                return True
        return False

    def forget_token(self, host: str, scope: str) -> None:
        self._tokens.pop((host, scope), None)

    async def authorization(self, host: str, scope: str) -> str | None:
        """The Authorization header for a request to the registry `host`, if any."""
        challenge = self._challenges.get(host)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            user, password = self._credentials[host]
            return _basic(user, password)
        cached = self._tokens.get((host, scope))
        if cached is not None and cached[1] > self._clock():
            return f"Bearer {cached[0]}"
        token, lifetime = await self._fetch_token(host, challenge, scope)
        self._seen_tokens.add(token)
        self._tokens[(host, scope)] = (token, self._clock() + lifetime - EXPIRY_MARGIN)
        return f"Bearer {token}"

    def _plain_realm_allowed(self, host: str, realm_host: str) -> bool:
        """A plain-HTTP realm is used only on a host configured insecure: the realm's own
        host:port, or the insecure registry's own host name (a token service next to it)."""
        if listed_insecure(realm_host, self._insecure):
            return True
        return listed_insecure(host, self._insecure) and _hostname(host) == _hostname(realm_host)

    async def _fetch_token(self, host: str, challenge: Challenge, scope: str) -> tuple[str, float]:
        realm = challenge.params["realm"]
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.username:
            raise RegistryError(f"invalid token realm {realm!r} in the challenge of {host}")
        if parts.scheme != "https" and not self._plain_realm_allowed(host, parts.netloc):
            raise Unauthorized(
                f"refusing to fetch a token for {host} from {realm} over plain HTTP: "
                f"{parts.netloc} is not an insecure registry"
            )
        # A push that mounts a blob asks for two repositories; a login for none.
        scopes = [s for s in scope.split(" ") if s]
        offered = challenge.params.get("scope")
        if offered and offered != scope:
            scopes.append(offered)
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query += [("scope", s) for s in scopes]
        url = realm + ("&" if parts.query else "?") + urlencode(query)
        headers: dict[str, str] = {}
        if host in self._credentials:
            headers["Authorization"] = _basic(*self._credentials[host])
        self.token_requests += 1
        response = await self._fetch(url, headers)
        try:
            body = await _read_limited(response, MAX_TOKEN_RESPONSE)
        finally:
            await response.aclose()
        where = f'Get "{realm}"'
        if response.status_code in (401, 403):
            raise Unauthorized(f"{where}: unauthorized: {_token_error(body)}")
        if response.status_code != 200:
            raise RegistryError(
                f"{where}: token service answered {response.status_code} {response.reason_phrase}"
            )
        return _parse_token(body, where)


def _hostname(netloc: str) -> str:
    """`127.0.0.1:5000` → `127.0.0.1`; `[::1]:5000` → `[::1]`."""
    return netloc.rsplit(":", 1)[0] if netloc.rfind(":") > netloc.rfind("]") else netloc


#: What dockerd treats as insecure whatever it is told (its InsecureRegistryCIDRs always
#: hold 127.0.0.0/8): a registry on the loopback, as `localhost:5000`, speaks plain HTTP.
LOOPBACK_INSECURE = ("127.0.0.0/8", "::1/128", "localhost")


def listed_insecure(host: str, insecure: Collection[str]) -> bool:
    """Whether `host` (host:port) is configured insecure: by host:port, by host name, or
    by an address in a listed CIDR (`--insecure-registry 10.0.0.0/8`, as dockerd takes)."""
    name = _hostname(host)
    if host in insecure or name in insecure:
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    for listed in insecure:
        if "/" in listed:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(listed, strict=False):
                    return True
    return False


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > limit:
            raise RegistryError(f"token response larger than {limit} bytes")
    return bytes(data)


def _token_error(body: bytes) -> str:
    try:
        doc: Any = json.loads(body)
    except ValueError:
        return "authentication required"
    if isinstance(doc, dict):
        for key in ("details", "message", "error"):
            if isinstance(doc.get(key), str):
                return str(doc[key])[:200]
    return "authentication required"


def _parse_token(body: bytes, where: str) -> tuple[str, float]:
    try:
        doc: Any = json.loads(body)
    except ValueError:
        raise RegistryError(f"{where}: token response is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{where}: token response is not a JSON object")
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryError(f"{where}: token response has no token")
    lifetime = doc.get("expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float):
        lifetime = MIN_TOKEN_LIFETIME
    return token, float(max(lifetime, MIN_TOKEN_LIFETIME))
