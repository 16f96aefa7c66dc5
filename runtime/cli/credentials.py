"""Registry credentials in docker's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`):
what `berth login` stores and `push`/`pull` send as X-Registry-Auth.

The file is written whole to a temporary file of mode 0600 and renamed over the old one,
so it is never readable by others, nor half written. Keys berth does not know are kept.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from berth.domain.reference import parse_reference
from berth.domain.registry_auth import DOCKER_HUB_ADDRESS, registry_host_of

NO_AUTH = "e30="  # base64 of "{}", as the docker CLI sends when it has nothing


def config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(directory) / "config.json"


def server_key(server: str) -> str:
    """The `auths` key docker uses: Hub's v1 address, else the registry's host[:port]."""
    host = registry_host_of(server)
    return DOCKER_HUB_ADDRESS if host == "docker.io" else host


def _load() -> dict[str, Any]:
    try:
        doc = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _save(doc: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(doc, indent="\t") + "\n")
    os.replace(temporary, path)


def store(server: str, username: str, password: str) -> None:
    doc = _load()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    doc.setdefault("auths", {})[server_key(server)] = {"auth": token}
    _save(doc)


def forget(server: str) -> bool:
    """Remove the credentials for `server`; False when there were none."""
    doc = _load()
    if doc.get("auths", {}).pop(server_key(server), None) is None:
        return False
    _save(doc)
    return True


def auth_header(reference: str) -> str:
    """X-Registry-Auth for the registry of `reference`: the stored credentials, if any."""
    server = server_key(parse_reference(reference).domain)
    entry = (_load().get("auths") or {}).get(server)
    if not isinstance(entry, dict) or not entry.get("auth"):
        return NO_AUTH
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    doc = {"username": user, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
