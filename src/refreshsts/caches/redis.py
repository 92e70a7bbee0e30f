"""RedisCache: credentials shared by a fleet, so it makes one STS call per refresh window.

Entries are sealed with AES-GCM unless `encrypt=False` is passed explicitly, and expire in
Redis with the credentials. The lock is a key set with NX and a lease (so a holder that dies
frees it) and released by compare-and-delete (so a holder whose lease ran out never frees
another's). Redis trouble never stops an application: a failed or slow call is a miss, a
skipped store or an unobtained lock, and sessions call STS directly, with a warning. Every
call is bounded by a socket timeout, so a client object without one is refused. With a key,
Redis key names carry an HMAC of the cache key rather than the key itself. A password in the
URL never appears in a repr, a log line or a pickle.

Whoever can write to Redis is not trusted with this process's memory or time: an entry's
size is checked in Redis before it is downloaded, and an entry expiring before one this
process has already read under the same name (an older sealed entry put back) is a miss.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from .._internal import forks
from .._internal.crypto import (
    KEY_ENV,
    MAX_ENTRY_BYTES,
    DecryptionError,
    Sealer,
    decode_entry,
    encode_entry,
    fingerprint,
    key_mismatch_warning,
    resolve_key,
)
from .._temporary import TemporaryCredentials
from ..errors import ConfigurationError
from ._keys import KEY, from_environment, key_in_environment, polls, stored_name
from .file import CachedEntry

__all__ = ["URL_ENV", "RedisCache"]

logger = logging.getLogger("refreshsts")

URL_ENV = "REFRESHSTS_REDIS_URL"
_NAMESPACE = re.compile(r"[\w.:-]{1,64}")
_CLIENT_METHODS = ("get", "set", "delete", "register_script")
_POLL_FIRST = 0.005
_POLL_MAX = 0.1
_BOUNDED_GET = """
local kind = redis.call("type", KEYS[1])["ok"]
if kind == "none" then
    return false
end
if kind ~= "string" then
    return -1
end
local size = redis.call("strlen", KEYS[1])
if size > tonumber(ARGV[1]) then
    return size
end
return redis.call("get", KEYS[1])
"""
_FINGERPRINT_BYTES = 64
_ROUNDING_SLACK = 0.001  # entries keep microseconds: a time read back may differ by a rounding
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class _Newest:
    """The latest expiration this process has read or written per entry name, never going back.

    A sealed entry cannot be forged without the key, but an older one can be put back under
    its name; once a newer one has been seen here, the older one is refused. Entries are
    ordered by their sealed expiration, which STS's clock set: `issued` is the wall clock of
    whichever host fetched, and a host whose clock is behind would make a newer entry look
    put back. An entry expiring at the same time is not older.
    """

    def __init__(self) -> None:
        self._expiration: dict[str, float] = {}
        self._lock = threading.Lock()

    def accept(self, name: str, expiration: float) -> bool:
        """Record `expiration` for `name`; False when it is before one already seen."""
        with self._lock:
            newest = self._expiration.get(name, float("-inf"))
            if expiration < newest - _ROUNDING_SLACK:
                return False
            self._expiration[name] = max(expiration, newest)
            return True

    def after_fork_in_child(self) -> None:
        """A lock held by a parent thread at fork time would never be released in the child."""
        self._lock = threading.Lock()


_NEWEST = _Newest()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_NEWEST.after_fork_in_child)


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
        forks.reset_in_child(self, "_lock")

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

    `url_or_client` is a URL (`redis://host:6379/0`, `rediss://...`) or a redis-py client built
    with `socket_timeout` (and `socket_connect_timeout`) set; only a cache built from a URL
    can be pickled, and a password in that URL is left out of the pickle (the receiving
    process reads the URL from `REFRESHSTS_REDIS_URL`). `lock_lease` bounds how long a dead
    lock holder blocks the others; `socket_timeout` bounds what a slow Redis costs each call.
    Implements CredentialCache; needs the `redis` extra.

    Args:
        url_or_client: A Redis URL, or a redis-py client with socket timeouts set.
        key: A 32-byte key, raw or as base64 text (see `generate_key`), to seal entries
            with; by default `REFRESHSTS_CACHE_KEY`.
        namespace: Prefix of every Redis key, 1 to 64 of letters, digits and `_ . : -`.
        encrypt: False stores entries unsealed (only on a Redis nobody else reads).
        lock_lease: Seconds a lock outlives a holder that died.
        socket_timeout: Seconds each Redis call may take before it counts as an outage.

    Raises:
        ConfigurationError: An option is malformed, no key is given while `encrypt` is on,
            or a client may wait forever; also when redis-py is not installed.
    """

    outage_pause = 1.0
    """Seconds Redis is skipped (reads miss, writes are dropped) after a failed call."""
    warn_every = 60.0
    """Seconds between warnings about the same Redis outage."""

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
        self.namespace = namespace
        self._key_checked = False
        self._fingerprint_written = False
        self.lock_lease = _positive_seconds("lock_lease", lock_lease)
        self.socket_timeout = _positive_seconds("socket_timeout", socket_timeout)
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
            _require_timeouts(url_or_client)
            self.url = None
            self._client = url_or_client
            self._where = f"<{type(url_or_client).__name__} client>"
        else:
            kind = type(url_or_client).__name__
            raise ConfigurationError(
                f"RedisCache needs a Redis URL or a redis-py client, not {kind}"
            )
        self._release = self._client.register_script(_RELEASE)
        self._bounded_get = self._client.register_script(_BOUNDED_GET)
        self._outage = _Outage(self._where, self.outage_pause, self.warn_every)

    @property
    def encrypted(self) -> bool:
        """True when entries are sealed with a key."""
        return self._sealer is not None

    # -- the protocol --------------------------------------------------------------------

    def get(self, key: str) -> TemporaryCredentials | None:
        stored = self._stored(key)
        name = self._name("entry", stored)
        if self._outage.active():
            return None
        try:
            raw = self._fetch(name, MAX_ENTRY_BYTES)
        except self._errors as exc:
            self._outage.record("get", exc)
            return None
        if raw is None:
            self._check_key()
            return None
        try:
            entry = decode_entry(raw, stored, self._sealer)
        except DecryptionError as exc:
            logger.warning("not trusting redis entry %s: %s; treating it as a miss", name, exc)
            return None
        except ValueError as exc:
            logger.warning(
                "redis entry %s is corrupt (%s); treating it as a miss", name, type(exc).__name__
            )
            return None
        if not _NEWEST.accept(name, entry.expiration):
            logger.warning(
                "not trusting redis entry %s: expires before one this process has already read "
                "there (an older entry put back?); treating it as a miss",
                name,
            )
            return None
        return entry if entry.seconds_left() > 0 else None

    def _fetch(self, name: str, limit: int) -> bytes | None:
        """The value at `name`, downloaded only when it is a string of at most `limit` bytes."""
        found = self._bounded_get(keys=[name], args=[limit])
        if found is None:
            return None
        if isinstance(found, int):
            problem = "not a string" if found < 0 else f"{found} bytes, over the {limit} allowed"
            logger.warning("not trusting redis key %s: %s; treating it as a miss", name, problem)
            return None
        return found.encode() if isinstance(found, str) else bytes(found)

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        stored = self._stored(key)
        name = self._name("entry", stored)
        ttl_ms = int(credentials.seconds_left() * 1000)
        if ttl_ms <= 0 or self._outage.active():
            return
        value = encode_entry(credentials, stored, self._sealer)
        _NEWEST.accept(name, credentials.expiration)
        try:
            self._client.set(name, value, px=ttl_ms)
            if self._sealer is not None and not self._fingerprint_written:
                self._client.set(self._name("meta", "key-fingerprint"), self._sealer.fingerprint)
                self._fingerprint_written = True
        except self._errors as exc:
            self._outage.record("set", exc)

    def _check_key(self) -> None:
        """On the first miss, warn when the namespace's entries were written under another key."""
        if self._key_checked:
            return
        self._key_checked = True
        try:
            found = self._fetch(self._name("meta", "key-fingerprint"), _FINGERPRINT_BYTES)
        except self._errors as exc:
            self._outage.record("get", exc)
            return
        warning = key_mismatch_warning(
            f"redis namespace {self.namespace!r}",
            fingerprint(self._sealer),
            None if found is None else found.decode("ascii", "replace"),
        )
        if warning:
            logger.warning(warning)

    def delete(self, key: str) -> None:
        name = self._name("entry", self._stored(key))
        try:
            self._client.delete(name)
        except self._errors as exc:
            self._outage.record("delete", exc)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        name = self._name("lock", self._stored(key))
        token = secrets.token_hex(16)
        acquired = self._acquire(name, token, timeout)
        holder = os.getpid()
        try:
            yield acquired
        finally:
            if acquired and os.getpid() == holder:  # a forked child leaves it to its parent
                try:
                    self._release(keys=[name], args=[token])
                except self._errors as exc:
                    self._outage.record("lock release", exc)

    def _acquire(self, name: str, token: str, timeout: float) -> bool:
        lease_ms = max(int(self.lock_lease * 1000), 1)
        for _ in polls(timeout, _POLL_FIRST, _POLL_MAX, jitter=True):
            if self._outage.active():
                return False
            try:
                if self._client.set(name, token, nx=True, px=lease_ms):
                    return True
            except self._errors as exc:
                self._outage.record("lock", exc)
                return False
        return False

    # -- for the cache command ----------------------------------------------------------

    def entries(self) -> Iterator[CachedEntry]:
        """Every readable entry of the namespace, by stored name; secrets stay behind.

        Redis drops entries as they expire, so an expired one is never listed.

        Returns:
            An iterator of CachedEntry, in Redis's scan order.
        """
        prefix = self._name("entry", "")
        for name in self._entry_names():
            stored = name[len(prefix) :]
            if not KEY.fullmatch(stored):
                continue
            raw = self._fetch(name, MAX_ENTRY_BYTES)
            if raw is None:
                continue
            try:
                entry = decode_entry(raw, stored, self._sealer)
            except (DecryptionError, ValueError) as exc:
                logger.warning("not trusting redis entry %s: %s; treating it as a miss", name, exc)
                continue
            yield CachedEntry.of(stored, entry)

    def count(self) -> int:
        """How many entries the namespace holds, readable or not (nothing is downloaded).

        Returns:
            The number of entry names in this namespace.
        """
        return sum(1 for _ in self._entry_names())

    def _entry_names(self) -> Iterator[str]:
        for found in self._client.scan_iter(match=f"{self._name('entry', '')}*", count=500):
            yield found.decode() if isinstance(found, bytes) else str(found)

    def clear(self) -> int:
        """Remove every entry of the namespace and its key fingerprint; how many entries.

        Locks are left to expire by their lease: one may be held by a refresh under way.

        Returns:
            How many entries were removed.
        """
        names = list(self._entry_names())
        removed = int(self._client.delete(*names)) if names else 0
        self._client.delete(self._name("meta", "key-fingerprint"))
        return removed

    # -- naming and hygiene ----------------------------------------------------------------

    def _stored(self, key: str) -> str:
        return stored_name(key, self._sealer)

    def _name(self, kind: str, stored: str) -> str:
        return f"{self.namespace}:{kind}:{stored}"

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
        redacted, had_password = _without_password(self.url)
        return (_restore, (redacted, options, had_password))


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


def _positive_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(
            f"{name}={value!r}: it must be a positive, finite number of seconds"
        )
    return float(value)


def _require_timeouts(client: Any) -> None:
    """Refuse a client that could wait forever on a stuck Redis.

    redis-py before 8 defaults to no socket timeout; a call to a Redis that accepts but never
    answers would then block a refresh forever, holding a thread of the refresh pool.
    """
    kwargs = _connection_kwargs(client)
    timeout = None if kwargs is None else kwargs.get("socket_timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return
    found = "whose socket_timeout cannot be read" if kwargs is None else "with socket_timeout="
    if kwargs is not None:
        found += repr(timeout)
    raise ConfigurationError(
        f"RedisCache got a {type(client).__name__} client {found}: a stuck Redis would "
        "block refreshes forever. Pass a URL, RedisCache('redis://host:6379/0', "
        "socket_timeout=0.5), or a client built with socket_timeout and "
        "socket_connect_timeout set, e.g. redis.Redis(..., socket_timeout=0.5, "
        "socket_connect_timeout=0.5)"
    )


def _connection_kwargs(client: Any) -> Mapping[str, Any] | None:
    """What a redis-py client connects with (Redis, or RedisCluster's node manager)."""
    for owner in ("connection_pool", "nodes_manager"):
        kwargs = getattr(getattr(client, owner, None), "connection_kwargs", None)
        if isinstance(kwargs, Mapping):
            return kwargs
    return None


def _restore(url: str, options: dict[str, Any], had_password: bool = False) -> RedisCache:
    where = f"RedisCache({url!r})"
    if options["encrypt"]:
        key_in_environment(where)
    if had_password:
        url = from_environment(
            URL_ENV,
            where,
            "had a password in its URL where it was pickled",
            "passwords",
            "its full URL, password included",
        )
    return RedisCache(url, **options)


def _redact(url: str) -> str:
    """The URL, quoted, without its password: for logs and reprs."""
    redacted, _ = _without_password(url)
    return repr(redacted)


def _without_password(url: str) -> tuple[str, bool]:
    """`url` with every password (in the user info or a query parameter) replaced by ***.

    The flag says whether there was one; a URL that cannot be parsed counts as having one
    and is replaced whole.
    """
    try:
        parts = urlsplit(url)
        found = parts.password is not None
        netloc = parts.netloc
        if found:
            userinfo, _, host = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:***@{host}"
        fields = []
        for field in parts.query.split("&") if parts.query else []:
            name, sep, value = field.partition("=")
            if sep and value and "password" in unquote_plus(name).lower():
                found = True
                value = "***"
            fields.append(f"{name}{sep}{value}")
    except ValueError:
        return "<unparsable redis URL>", True
    if not found:
        return url, False
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(fields))), True
