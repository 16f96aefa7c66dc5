"""Which registry client a request uses: the engine's, or one with the request's
credentials (X-Registry-Auth), so that one client's credentials never serve another's
request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from berth.adapters.registry import Registry, RegistryClient
from berth.adapters.registry.transport import registry_host
from berth.domain.errors import NotSupported
from berth.domain.reference import ImageReference
from berth.domain.registry_auth import RegistryAuth, registry_host_of


@asynccontextmanager
async def registry_with(
    base: Registry, auth: RegistryAuth | None, ref: ImageReference
) -> AsyncIterator[Registry]:
    """`base`, or a client like it answering challenges with `auth` for `ref`'s registry
    (closed afterwards)."""
    if auth is None:
        yield base
        return
    if not isinstance(base, RegistryClient):
        raise NotSupported("registry credentials need the engine's registry client")
    async with base.with_credentials(auth.credentials_for(registry_host(ref.domain))) as client:
        yield client


@asynccontextmanager
async def client_with(
    base: Registry, auth: RegistryAuth | None, ref: ImageReference
) -> AsyncIterator[RegistryClient]:
    """As `registry_with`, for what only the real client does (push)."""
    async with registry_with(base, auth, ref) as registry:
        if not isinstance(registry, RegistryClient):
            raise NotSupported("pushing needs the engine's registry client")
        yield registry


async def check_login(base: Registry, auth: RegistryAuth) -> None:
    """`docker login`: the registry `auth.server` accepts these credentials."""
    host = registry_host(registry_host_of(auth.server))
    async with client_with(base, auth, ImageReference(host, "login")) as client:
        await client.check_login(host)
