"""RedisCache: credentials shared by a fleet, so it makes one STS call per refresh window.

Entries are sealed with AES-GCM unless `encrypt=False` is passed explicitly, and expire in
Redis with the credentials. The lock is a key set with NX and a lease (so a holder that dies
frees it) and released by compare-and-delete (so a holder whose lease ran out never frees
another's). Redis trouble never stops an application: a failed or slow call is a miss, a
skipped store or an unobtained lock, and sessions call STS directly, with a warning.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._internal.crypto import (
    KEY_ENV,
    DecryptionError,
    Sealer,
    decode_entry,
    encode_entry,
    resolve_key,
)
from .._temporary import TemporaryCredentials
from ..errors import ConfigurationError

__all__ = ["RedisCache"]

logger = logging.getLogger("refreshsts")

_NAMESPACE = re.compile(r"[\w.:-]{1,64}")
_KEY = re.compile(r"[0-9a-f]{16,128}")
_CLIENT_METHODS = ("get", "set", "delete", "register_script")
_POLL_FIRST = 0.005
_POLL_MAX = 0.1
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def _import_redis() -> ModuleType:
    try:
        import redis  # noqa: PLC0415
        import redis.backoff  # noqa: PLC0415
        import redis.retry  # noqa: PLC0415
    except ImportError:
        raise ConfigurationError(
            "RedisCache needs the 'redis' package: pip install 'refreshsts[redis]'"
        ) from None
    return redis


class _Outage:
    """Redis trouble seen recently: skip Redis for `pause` s and warn at most every `quiet` s."""

    def __init__(self, where: str, pause: float, quiet: float) -> None:
        self.where = where
        self.pause = pause
        self.quiet = quiet
        self.failures = 0
        self._until = float("-inf")
        self._next_warning = float("-inf")
        self._lock = threading.Lock()

    def active(self) -> bool:
        return time.monotonic() < self._until

    def record(self, operation: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            self._until = now + self.pause
            if now < self._next_warning:
                return
            self._next_warning = now + self.quiet
        logger.warning(
            "redis cache %s failed on %s (%s: %s); sessions fall back to calling STS directly "
            "(further warnings suppressed for %.0f s)",
            self.where,
            operation,
            type(exc).__name__,
            exc,
            self.quiet,
        )


class RedisCache:
    """Credentials in Redis, sealed with `key` (or `REFRESHSTS_CACHE_KEY`), shared by hosts.

    `url_or_client` is a URL (`redis://host:6379/0`, `rediss://...`) or a redis-py client; only
    a cache built from a URL can be pickled. `lock_lease` bounds how long a dead lock holder
    blocks the others; `socket_timeout` bounds what a slow Redis costs each call.
    """

    outage_pause = 1.0
    warn_every = 60.0

    def __init__(
        self,
        url_or_client: str | Any,
        *,
        key: str | bytes | None = None,
        namespace: str = "refreshsts",
        encrypt: bool = True,
        lock_lease: float = 30.0,
        socket_timeout: float = 0.5,
    ) -> None:
        self._sealer = _sealer(key, encrypt)
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise ConfigurationError(
                f"namespace={namespace!r}: use 1 to 64 letters, digits or any of _ . : -"
            )
        if not lock_lease > 0 or not socket_timeout > 0:
            raise ConfigurationError("lock_lease and socket_timeout must be positive seconds")
        self.namespace = namespace
        self.lock_lease = float(lock_lease)
        self.socket_timeout = float(socket_timeout)
        redis = _import_redis()
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        if isinstance(url_or_client, str):
            self.url: str | None = url_or_client
            self._client: Any = redis.Redis.from_url(
                url_or_client,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
            )
            self._where = _redact(url_or_client)
        elif all(callable(getattr(url_or_client, name, None)) for name in _CLIENT_METHODS):
            self.url = None
            self._client = url_or_client
            self._where = f"<{type(url_or_client).__name__} client>"
        else:
            kind = type(url_or_client).__name__
            raise ConfigurationError(
                f"RedisCache needs a Redis URL or a redis-py client, not {kind}"
            )
        self._release = self._client.register_script(_RELEASE)
        self._outage = _Outage(self._where, self.outage_pause, self.warn_every)

    @property
    def encrypted(self) -> bool:
        return self._sealer is not None

    # -- the protocol --------------------------------------------------------------------

    def get(self, key: str) -> TemporaryCredentials | None:
        name = self._name("entry", key)
        if self._outage.active():
            return None
        try:
            raw = self._client.get(name)
        except self._errors as exc:
            self._outage.record("get", exc)
            return None
        if raw is None:
            return None
        try:
            entry = decode_entry(raw.encode() if isinstance(raw, str) else raw, key, self._sealer)
        except DecryptionError as exc:
            logger.warning("not trusting redis entry %s: %s; treating it as a miss", name, exc)
            return None
        except ValueError as exc:
            logger.warning(
                "redis entry %s is corrupt (%s); treating it as a miss", name, type(exc).__name__
            )
            return None
        return entry if entry.seconds_left() > 0 else None

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        name = self._name("entry", key)
        ttl_ms = int(credentials.seconds_left() * 1000)
        if ttl_ms <= 0 or self._outage.active():
            return
        value = encode_entry(credentials, key, self._sealer)
        try:
            self._client.set(name, value, px=ttl_ms)
        except self._errors as exc:
            self._outage.record("set", exc)

    def delete(self, key: str) -> None:
        name = self._name("entry", key)
        try:
            self._client.delete(name)
        except self._errors as exc:
            self._outage.record("delete", exc)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        name = self._name("lock", key)
        token = secrets.token_hex(16)
        acquired = self._acquire(name, token, timeout)
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    self._release(keys=[name], args=[token])
                except self._errors as exc:
                    self._outage.record("lock release", exc)

    def _acquire(self, name: str, token: str, timeout: float) -> bool:
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = _POLL_FIRST
        lease_ms = max(int(self.lock_lease * 1000), 1)
        while not self._outage.active():
            try:
                if self._client.set(name, token, nx=True, px=lease_ms):
                    return True
            except self._errors as exc:
                self._outage.record("lock", exc)
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(delay * (0.5 + secrets.randbelow(1000) / 1000), remaining))
            delay = min(delay * 2, _POLL_MAX)
        return False

    # -- naming and hygiene ----------------------------------------------------------------

    def _name(self, kind: str, key: str) -> str:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError("cache keys are lowercase hex digests (16 to 128 characters)")
        return f"{self.namespace}:{kind}:{key}"

    def __repr__(self) -> str:
        return (
            f"RedisCache({self._where}, namespace={self.namespace!r}, encrypted={self.encrypted})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        if self.url is None:
            raise TypeError(
                "a RedisCache built from a client object cannot be pickled: build it from a URL, "
                "RedisCache('redis://host:6379/0', ...), so the other process can connect"
            )
        options = {
            "namespace": self.namespace,
            "encrypt": self.encrypted,
            "lock_lease": self.lock_lease,
            "socket_timeout": self.socket_timeout,
        }
        return (_restore, (self.url, options))


def _sealer(key: str | bytes | None, encrypt: bool) -> Sealer | None:
    if not encrypt:
        if key is not None:
            raise ConfigurationError("RedisCache got key= and encrypt=False: choose one")
        return None
    raw = resolve_key(key)
    if raw is None:
        raise ConfigurationError(
            "RedisCache encrypts entries by default and needs a key: pass "
            f"key=refreshsts.generate_key() output (kept secret), set {KEY_ENV}, or pass "
            "encrypt=False to store credentials in Redis as plaintext"
        )
    return Sealer(raw)


def _restore(url: str, options: dict[str, Any]) -> RedisCache:
    if options["encrypt"] and not os.environ.get(KEY_ENV, "").strip():
        raise ConfigurationError(
            f"this RedisCache({_redact(url)}) was encrypted where it was pickled, and keys never "
            f"travel in a pickle: set {KEY_ENV} in this process to the same key"
        )
    return RedisCache(url, **options)


def _redact(url: str) -> str:
    """The URL, quoted, without its password: for logs and reprs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return repr(url)
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}{port}"
    except ValueError:
        return "'<unparsable redis URL>'"
    return repr(urlunsplit(parts._replace(netloc=netloc)))
