"""Errors of the registry client, on top of the domain's classes.

Each carries the HTTP status the Engine API answers with. Messages follow dockerd's
where it has one; they never contain a token, a password or an Authorization header
(the client redacts every secret it knows before raising).
"""

from __future__ import annotations

from berth.domain.errors import BerthError, InvalidParameter


class RegistryError(BerthError):
    """The registry answered something a correct registry would not (500)."""

    http_status = 500


class Unauthorized(BerthError):
    """The registry or its token service refused the credentials (401)."""

    http_status = 401


class UnsupportedManifest(InvalidParameter):
    """A manifest berth refuses: schema 1, ambiguous, oversized, mislabelled (400)."""
