"""MemoryCache: credentials shared by every session in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cachetools

from .._internal import forks
from .._temporary import TemporaryCredentials
from ..errors import ConfigurationError

__all__ = ["MemoryCache"]


def _ttu(_key: str, value: TemporaryCredentials, now: float) -> float:
    return value.expiration


class MemoryCache:
    """An in-process cache on `cachetools.TLRUCache`; entries leave when they expire.

    Holding at most `maxsize` chains, it is the default: every session in the process shares
    one, so ten sessions on one role make one STS call. Implements CredentialCache.

    Args:
        maxsize: How many entries it holds at most, 1 or more.

    Raises:
        ConfigurationError: `maxsize` is not a whole number of 1 or more.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError(
                f"MemoryCache(maxsize={maxsize!r}): maxsize is how many entries it holds, "
                "a whole number of 1 or more"
            )
        self.maxsize = maxsize
        self._reset()
        forks.reset_in_child(self)

    def _reset(self) -> None:
        """Start empty with free locks; in a forked child too, as a parent thread may have
        been mid-update."""
        self._entries: cachetools.TLRUCache[str, TemporaryCredentials] = cachetools.TLRUCache(
            maxsize=self.maxsize, ttu=_ttu, timer=time.time
        )
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    _after_fork_in_child = _reset

    def get(self, key: str) -> TemporaryCredentials | None:
        with self._guard:
            return self._entries.get(key)

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        with self._guard:
            self._entries[key] = credentials

    def delete(self, key: str) -> None:
        with self._guard:
            self._entries.pop(key, None)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        acquired = lock.acquire(timeout=max(timeout, 0))
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryCache(maxsize={self.maxsize}, entries={len(self._entries)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (MemoryCache, (self.maxsize,))
