"""Private keys for `berth sign`: cosign's encrypted key files, or plain PKCS#8 PEM.

cosign's `generate-key-pair` writes "ENCRYPTED SIGSTORE PRIVATE KEY" (older versions:
"ENCRYPTED COSIGN PRIVATE KEY"): base64 of a JSON document whose `ciphertext` is the
PKCS#8 DER key sealed with NaCl secretbox under scrypt(passphrase, salt, N, r, p) — the
`encrypted` format of go-securesystemslib. The key never leaves this process: berth
signs here and hands the engine only the payload and the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

import click
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_ENCRYPTED = re.compile(
    rb"-----BEGIN ENCRYPTED (?:SIGSTORE|COSIGN) PRIVATE KEY-----(.*?)-----END", re.S
)
MAX_SCRYPT_N = 1 << 20


def is_encrypted(pem: bytes) -> bool:
    return _ENCRYPTED.search(pem) is not None or b"ENCRYPTED PRIVATE KEY" in pem


def load_private_key(pem: bytes, passphrase: str) -> PrivateKey:
    found = _ENCRYPTED.search(pem)
    if found is None:
        key: Any = serialization.load_pem_private_key(pem, passphrase.encode() or None)
    else:
        key = serialization.load_der_private_key(_decrypt(found.group(1), passphrase), None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return key
    raise click.ClickException("only ECDSA P-256 and Ed25519 keys can sign")


def _decrypt(body: bytes, passphrase: str) -> bytes:
    import nacl.exceptions
    import nacl.secret

    try:
        doc = json.loads(base64.b64decode(b"".join(body.split())))
        params = doc["kdf"]["params"]
        salt = base64.b64decode(doc["kdf"]["salt"])
        nonce = base64.b64decode(doc["cipher"]["nonce"])
        sealed = base64.b64decode(doc["ciphertext"])
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise click.ClickException("not a cosign private key") from None
    if doc["kdf"].get("name") != "scrypt" or doc["cipher"].get("name") != "nacl/secretbox":
        raise click.ClickException("unsupported cosign key encryption")
    if not 1 < n <= MAX_SCRYPT_N:
        raise click.ClickException("unsupported cosign key: scrypt N out of range")
    secret = hashlib.scrypt(
        passphrase.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024
    )
    try:
        return bytes(nacl.secret.SecretBox(secret).decrypt(sealed, nonce))
    except nacl.exceptions.CryptoError:
        raise click.ClickException("decrypting the key: wrong passphrase?") from None


def sign_payload(key: PrivateKey, payload: bytes) -> bytes:
    """cosign's signature of `payload`: ECDSA-SHA256 (DER) or Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(payload)
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))
