"""What the backends that store outside the process share: names, restoring, polling."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator

from .._internal.crypto import KEY_ENV, Sealer
from ..errors import ConfigurationError

__all__ = ["KEY", "checked", "from_environment", "key_in_environment", "polls", "stored_name"]

KEY = re.compile(r"[0-9a-f]{16,128}")


def checked(key: str) -> str:
    """`key` if it is shaped like a cache key (a hex digest), else ValueError."""
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise ValueError("cache keys are lowercase hex digests (16 to 128 characters)")
    return key


def stored_name(key: str, sealer: Sealer | None) -> str:
    """The name the entry (and lock) of `key` is stored under.

    Without a sealer it is the cache key itself; with one, an HMAC of it, so that names do
    not let anyone check a guess at the role, ExternalId or principal behind an entry.
    """
    return checked(key) if sealer is None else sealer.name(checked(key))


def from_environment(variable: str, where: str, why: str, secret_kind: str, what: str) -> str:
    """`variable`'s value, which the unpickled cache `where` needs because of `why`.

    Secrets (`secret_kind`: "keys", "passwords") never travel in a pickle, so the receiving
    process supplies them; a ConfigurationError says which variable and what it must hold.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConfigurationError(
            f"this {where} {why}, and {secret_kind} never travel in a pickle: set {variable} in "
            f"this process to {what}"
        )
    return value


def key_in_environment(where: str) -> None:
    """Refuse to unpickle the encrypted cache `where` where REFRESHSTS_CACHE_KEY is not set."""
    from_environment(KEY_ENV, where, "was encrypted where it was pickled", "keys", "the same key")


def polls(timeout: float, first: float, longest: float, *, jitter: bool = False) -> Iterator[None]:
    """Yield until `timeout` runs out, sleeping a little longer each time in between.

    The sleeps start at `first` and double up to `longest`; with `jitter`, each is scaled by a
    random factor in [0.5, 1.5) so that waiters on many hosts do not poll in step.
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    delay = first
    while True:
        yield
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        pause = delay * (0.5 + secrets.randbelow(1000) / 1000) if jitter else delay
        time.sleep(min(pause, remaining))
        delay = min(delay * 2, longest)
