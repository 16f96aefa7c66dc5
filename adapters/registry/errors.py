"""Errors of the registry client, on top of the domain's classes, and dockerd's words for
what a registry answered or how a request failed.

Each carries the HTTP status the Engine API answers with. Messages follow dockerd's
where it has one; they never contain a token, a password or an Authorization header
(the client redacts every secret it knows before raising).
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
from typing import TYPE_CHECKING

from berth.adapters.lazy_modules import lazy_module
from berth.domain.errors import BerthError, InvalidParameter, NotFound, Unavailable
from berth.domain.reference import ImageReference

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")


class RegistryError(BerthError):
    """The registry answered something a correct registry would not (500)."""

    http_status = 500


class Unauthorized(BerthError):
    """The registry or its token service refused the credentials (401)."""

    http_status = 401


class UnsupportedManifest(InvalidParameter):
    """A manifest berth refuses: schema 1, ambiguous, oversized, mislabelled (400)."""


# dockerd's words for what went wrong ------------------------------------------------------


def _registry_errors(body: bytes) -> list[tuple[str, str]]:
    """The (code, message) pairs of a registry error body `{"errors":[…]}`."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    found = []
    for error in errors:
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            found.append((code if isinstance(code, str) else "UNKNOWN", str(message or "")[:500]))
    return found


def error_for(
    response: httpx.Response, body: bytes, ref: ImageReference, manifest: bool, digest: str
) -> BerthError:
    """The error an unexpected answer (status and error body) means, in dockerd's words."""
    status = response.status_code
    errors = _registry_errors(body)
    code, message = errors[0] if errors else ("", "")
    text = f"{code.lower().replace('_', ' ')}: {message}" if code else ""
    if code in ("DENIED", "UNAUTHORIZED") or status in (401, 403):
        return NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may "
            "require 'docker login'" + (f": {text}" if text else "")
        )
    if code == "NAME_UNKNOWN":
        return NotFound(f"repository {ref.familiar_name} not found: {text}")
    if manifest and (code == "MANIFEST_UNKNOWN" or status == 404):
        return NotFound(
            f"manifest for {ref.familiar} not found: {text or 'manifest unknown: manifest unknown'}"
        )
    if status == 404 or code == "BLOB_UNKNOWN":
        return NotFound(
            f"blob {digest} not found: {text or 'blob unknown: blob unknown to registry'}"
        )
    summary = f"received unexpected HTTP status: {status} {response.reason_phrase}"
    if status == 429 or code == "TOOMANYREQUESTS" or status >= 500:
        return Unavailable(summary + (f": {text}" if text else ""))
    return RegistryError(summary + (f": {text}" if text else ""))


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything chained to it, exception groups included."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def transport_message(url: str, exc: BaseException) -> str:
    """A dockerd-like message for a failed request: `Get "URL": dial tcp …: …`."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = f"{parsed.host}:{port}"
    # Without the query: a redirect target's query may hold a signature (presigned URLs).
    where = f'Get "{parsed.copy_with(query=None)}"'
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"{where}: x509: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            reason = str(cause.reason or cause)
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
                return f"{where}: http: server gave HTTP response to HTTPS client"
            return f"{where}: tls: {reason.lower().replace('_', ' ')}"
        if isinstance(cause, socket.gaierror):
            return f"{where}: dial tcp: lookup {parsed.host}: {cause.strerror}"
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno == errno.ECONNREFUSED:
                return f"{where}: dial tcp {address}: connect: connection refused"
            return f"{where}: dial tcp {address}: {cause.strerror or errno.errorcode[cause.errno]}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where}: net/http: timeout ({type(exc).__name__})"
    return f"{where}: {exc or type(exc).__name__}"
