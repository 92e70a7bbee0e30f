"""Encryption at rest for cache entries: keys, AES-GCM sealing and the stored envelope.

Every backend stores the same bytes for an entry: the JSON of `TemporaryCredentials.to_dict()`,
or, with a key, that JSON sealed in a versioned envelope whose associated data is the name the
entry is stored under, so an entry copied under another name (another principal or role)
does not open. With a key, that name is an HMAC of the cache key (`Sealer.name`), so file
and Redis key names reveal nothing guessable. `cryptography` is imported only when a key is
used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from .._temporary import TemporaryCredentials
from ..errors import ConfigurationError, RefreshstsError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_ENV",
    "DecryptionError",
    "Sealer",
    "decode_entry",
    "encode_entry",
    "generate_key",
    "parse_key",
    "resolve_key",
]

KEY_ENV = "REFRESHSTS_CACHE_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
ENVELOPE = "refreshsts.aes256gcm"
ENVELOPE_VERSION = 1
MAX_ENTRY_BYTES = 64 * 1024
NAMES_INFO = b"refreshsts cache entry names v1"
FINGERPRINT_INFO = b"refreshsts cache key fingerprint v1"
UNENCRYPTED = "unencrypted"
"""The fingerprint a cache without a key writes, so a cache with one can tell."""


class DecryptionError(RefreshstsError):
    """An entry this cache cannot open: another key, tampering, or the wrong kind of entry.

    Messages are fixed texts, never entry contents, so backends can log them as they are.
    """


def generate_key() -> str:
    """A new cache key, for `key=` of FileCache and RedisCache or `REFRESHSTS_CACHE_KEY`.

    Returns:
        32 random bytes as URL-safe base64 text; keep it secret.
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_key(key: str | bytes, *, source: str = "key=") -> bytes:
    """The 32 raw bytes of `key`, given raw or as URL-safe base64 text.

    Standard base64 (`openssl rand -base64 32`) is read too: its two other characters cannot
    be confused with URL-safe ones. Errors name the key's source and problem, never the key.
    """
    if isinstance(key, (bytes, bytearray)):
        if len(key) == KEY_BYTES:
            return bytes(key)
        try:
            key = bytes(key).decode("ascii")
        except UnicodeDecodeError:
            _bad_key(source, f"{len(key)} raw bytes")
    if not isinstance(key, str):
        raise ConfigurationError(
            f"{source} must be str or bytes (as refreshsts.generate_key() returns), "
            f"not {type(key).__name__}"
        )
    text = key.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        _bad_key(source, f"{len(text)} characters that are not URL-safe base64")
    if len(raw) != KEY_BYTES:
        _bad_key(source, f"{len(text)} characters that decode to {len(raw)} bytes")
    return raw


def _bad_key(source: str, found: str) -> NoReturn:
    raise ConfigurationError(
        f"{source} is not a usable cache key: expected {KEY_BYTES} random bytes or their URL-safe "
        f"base64 text (44 characters, as refreshsts.generate_key() returns), got {found}"
    )


def resolve_key(key: str | bytes | None) -> bytes | None:
    """`key` if given, else `REFRESHSTS_CACHE_KEY` if set, else None (no encryption)."""
    if key is not None:
        return parse_key(key, source="key=")
    text = os.environ.get(KEY_ENV, "")
    return parse_key(text, source=KEY_ENV) if text.strip() else None


def _aesgcm() -> type[AESGCM]:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "encrypted caches need the 'cryptography' package: pip install 'refreshsts[encryption]'"
        ) from None
    return AESGCM


def _subkey(key: bytes, info: bytes) -> bytes:
    """A key for another purpose than `key`'s own, derived with HKDF-SHA256."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: PLC0415

    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


class Sealer:
    """AES-256-GCM with a fresh random 96-bit nonce per entry, bound to the entry's name.

    `name` turns a cache key into the name its entry is stored under: an HMAC-SHA256 keyed
    with a subkey of the encryption key, because cache keys digest low-entropy parameters
    (a role ARN, an ExternalId) that anyone could hash and compare against stored names.
    """

    def __init__(self, key: bytes) -> None:
        self._aead = _aesgcm()(key)
        self._names = _subkey(key, NAMES_INFO)
        self.fingerprint = _subkey(key, FINGERPRINT_INFO)[:12].hex()
        """Names the key without revealing it: caches sharing a store compare fingerprints."""

    def name(self, cache_key: str) -> str:
        """The hex name the entry of `cache_key` is stored under; unguessable without the key."""
        return hmac.new(self._names, cache_key.encode(), hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes, bound_to: str) -> dict[str, Any]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _associated(bound_to))
        return {
            "envelope": ENVELOPE,
            "version": ENVELOPE_VERSION,
            "nonce": _b64(nonce),
            "ciphertext": _b64(sealed),
        }

    def open(self, envelope: Mapping[str, Any], bound_to: str) -> bytes:
        """The plaintext sealed in `envelope` under `bound_to`; DecryptionError otherwise."""
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415

        if envelope.get("version") != ENVELOPE_VERSION:
            raise DecryptionError("unsupported envelope version")
        try:
            nonce = _unb64(envelope["nonce"])
            sealed = _unb64(envelope["ciphertext"])
        except (KeyError, TypeError, ValueError):
            raise DecryptionError("malformed envelope") from None
        if len(nonce) != NONCE_BYTES:
            raise DecryptionError("malformed envelope")
        try:
            return self._aead.decrypt(nonce, sealed, _associated(bound_to))
        except InvalidTag:
            raise DecryptionError(
                "authentication failed: another key, another cache entry, or tampering"
            ) from None

    def __repr__(self) -> str:
        return "Sealer(AES-256-GCM)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Sealer holds an encryption key and is never pickled")


def fingerprint(sealer: Sealer | None) -> str:
    """What a cache records about its key beside its entries."""
    return UNENCRYPTED if sealer is None else sealer.fingerprint


def key_mismatch_warning(store: str, ours: str, found: str | None) -> str | None:
    """The warning to give when entries in `store` were written under another key, else None."""
    if found is None or found == ours:
        return None
    if found == UNENCRYPTED:
        theirs = "without an encryption key"
    elif ours == UNENCRYPTED:
        theirs = "with an encryption key"
    else:
        theirs = "with another encryption key"
    return (
        f"{store} holds credentials written {theirs}; they are misses for this cache, which "
        "will call STS and store its own (set the same key, e.g. REFRESHSTS_CACHE_KEY, on "
        "every process sharing it)"
    )


def _associated(bound_to: str) -> bytes:
    return f"{ENVELOPE}/v{ENVELOPE_VERSION}/{bound_to}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("envelope field")
    return base64.b64decode(text, altchars=b"-_", validate=True)


def encode_entry(credentials: TemporaryCredentials, name: str, sealer: Sealer | None) -> bytes:
    """The bytes a backend stores for `credentials` under `name` (sealed with a sealer)."""
    plain = json.dumps(credentials.to_dict(), separators=(",", ":")).encode()
    if sealer is None:
        return plain
    return json.dumps(sealer.seal(plain, name), separators=(",", ":")).encode()


def decode_entry(raw: bytes, name: str, sealer: Sealer | None) -> TemporaryCredentials:
    """Inverse of `encode_entry`.

    Raises DecryptionError when the entry cannot be opened or is not the kind this cache
    expects (a plaintext entry in an encrypted cache is refused: anyone who can write there
    could plant credentials), and ValueError when it is corrupt or truncated.
    """
    if len(raw) > MAX_ENTRY_BYTES:
        raise ValueError("entry is too large")
    data = _json_object(raw)
    if data.get("envelope") == ENVELOPE:
        if sealer is None:
            raise DecryptionError("entry is encrypted and this cache has no key")
        data = _json_object(sealer.open(data, name))
    elif sealer is not None:
        raise DecryptionError("entry is not encrypted and this cache requires encryption")
    return TemporaryCredentials.from_dict(data)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("entry is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("entry is not a JSON object")
    return data
