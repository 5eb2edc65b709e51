"""Upstream keys at rest: AES-256-GCM (the `cryptography` package), under a key derived from
`SMART_ROUTER_SECRET_KEY`.

GCM is authenticated: a ciphertext read under another secret fails instead of decrypting to
garbage, which is how a wrong `SMART_ROUTER_SECRET_KEY` is caught at start (a check value is
stored beside the keys). Each ciphertext is bound to its row (associated data), so one key's
ciphertext copied into another row does not decrypt either.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_ENV = "SMART_ROUTER_SECRET_KEY"
FORMAT = "v1"
CHECK_PLAINTEXT = "smart-router secret check"
CHECK_CONTEXT = "secret-check"
MIN_SECRET_CHARS = 16


class SecretKeyError(ValueError):
    """The secret is missing, too short, or not the one the store was written under."""


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)


class SecretBox:
    def __init__(self, secret: str) -> None:
        secret = (secret or "").strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise SecretKeyError(
                f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters "
                "(`smart-router serve` writes a random one to .env on first run)"
            )
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"smart-router channel keys", info=b"v1"
        ).derive(secret.encode("utf-8"))
        self._aead = AESGCM(derived)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{FORMAT}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str, context: str) -> str:
        version, _, body = token.partition(":")
        if version != FORMAT or not body:
            raise SecretKeyError(f"not a sealed value of format {FORMAT}")
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise SecretKeyError(
                f"a stored key does not decrypt under this {SECRET_ENV}: it is not the secret the "
                "keys were written under (restore the old value, or re-encrypt with "
                "`smart-router channels rekey`)"
            ) from None

    def check_value(self) -> str:
        return self.seal(CHECK_PLAINTEXT, CHECK_CONTEXT)

    def verify(self, check_value: str) -> None:
        """Raises SecretKeyError unless `check_value` was sealed under this secret."""
        if self.open(check_value, CHECK_CONTEXT) != CHECK_PLAINTEXT:
            raise SecretKeyError(f"{SECRET_ENV} does not match the store")


def box_from_env(environ: dict[str, str] | None = None) -> SecretBox | None:
    value = (environ if environ is not None else os.environ).get(SECRET_ENV)
    return SecretBox(value) if value else None
