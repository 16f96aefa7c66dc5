"""`/images/{name}/push`, `/auth`, `/images/get` (save) and `/distribution/{name}/json`:
images leaving the engine, and what a registry has."""

from __future__ import annotations

import base64
import binascii

import trio

from berth.domain.errors import InvalidParameter
from berth.domain.registry_auth import RegistryAuth, auth_from_document, decode_registry_auth

from ..service.image_distribution import inspect_distribution
from ..service.image_push import ImagePush
from ..service.image_save import ImageSave
from ..service.image_sign import ImageSign
from ..service.registry_access import check_login
from .routes_images import NAME, progress_stream
from .server import App, Reply, Request, Router, StreamReply, Write, json_reply

AUTH_HEADER = "x-registry-auth"


def request_auth(request: Request) -> RegistryAuth | None:
    """The credentials of the request's X-Registry-Auth header, if it names any."""
    return decode_registry_auth(request.headers.get(AUTH_HEADER, ""))


async def push(app: App, request: Request) -> StreamReply:
    if AUTH_HEADER not in request.headers:
        # dockerd reads the body as the credentials then, and an empty one is this.
        raise InvalidParameter("Bad parameters and missing X-Registry-Auth: EOF")
    name, tag = request.params["name"], request.text("tag")
    auth = request_auth(request)
    pusher = ImagePush(app.images)
    return progress_stream(
        lambda progress: pusher.push(name, tag, auth, progress), f"push of {name}"
    )


async def auth(app: App, request: Request) -> Reply:
    """`docker login`: the credentials checked against the registry, never stored here."""
    credentials = auth_from_document(request.json(default={}))
    if credentials is None:
        raise InvalidParameter("username and password are required")
    await check_login(app.images.registry, credentials)
    return json_reply({"IdentityToken": "", "Status": "Login Succeeded"})


async def sign_digest(app: App, request: Request) -> Reply:
    """`berth sign`, first step: the digest the tag names in its registry."""
    signer = ImageSign(app.images)
    return json_reply(await signer.digest_to_sign(request.params["name"], request_auth(request)))


async def sign(app: App, request: Request) -> Reply:
    """`berth sign`, second step: the client's payload and signature stored beside the image."""
    body = request.json(default={})
    try:
        payload = base64.b64decode(body["Payload"], validate=True)
        signature = base64.b64decode(body["Signature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InvalidParameter("Payload and Signature (base64) are required") from None
    signer = ImageSign(app.images)
    name, auth = request.params["name"], request_auth(request)
    return json_reply(await signer.attach(name, payload, signature, auth), 201)


async def distribution(app: App, request: Request) -> Reply:
    """docker-py's `inspect_distribution`: the registry's descriptor and platforms."""
    return json_reply(
        await inspect_distribution(app.images, request.params["name"], request_auth(request))
    )


def register(router: Router) -> None:
    router.add("GET", "/distribution/(?P<name>.+)/json", distribution)
    router.add("GET", f"/berth{NAME}/sign", sign_digest)
    router.add("POST", f"/berth{NAME}/sign", sign)
    router.add("POST", f"{NAME}/push", push)
    router.add("POST", "/auth", auth)
    router.add("GET", "/images/get", save)
    router.add("GET", f"{NAME}/get", save)


async def save(app: App, request: Request) -> StreamReply:
    """`docker save NAME` (`/images/NAME/get`) and of several (`/images/get?names=`)."""
    names = [v for k, v in request.query_pairs if k == "names"]
    if "name" in request.params:
        names = [request.params["name"]]
    saver = ImageSave(app.images)
    # Resolved before the first byte: an unknown name is a 404, not a broken archive.
    await trio.to_thread.run_sync(saver.select, names)

    async def produce(write: Write) -> None:
        await saver.stream(names, write)

    return StreamReply(produce, content_type="application/x-tar", lazy=True)
