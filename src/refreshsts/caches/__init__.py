"""Caching strategies: one small backend per module behind the CredentialCache protocol."""

from __future__ import annotations

import threading

from .._internal import forks
from ._protocol import CredentialCache
from .file import CachedEntry, FileCache
from .memory import MemoryCache
from .null import NoCache
from .redis import RedisCache

__all__ = [
    "CachedEntry",
    "CredentialCache",
    "FileCache",
    "MemoryCache",
    "NoCache",
    "RedisCache",
    "get_default_cache",
    "set_default_cache",
]

_default: CredentialCache | None = None
_default_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()


forks.on_fork_in_child(_after_fork_in_child)


def get_default_cache() -> CredentialCache:
    """The process-wide cache used by sessions created without `cache=`.

    Returns:
        The cache `set_default_cache` chose, else one shared MemoryCache.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = MemoryCache()
        return _default


def set_default_cache(cache: CredentialCache | None) -> None:
    """Choose the cache for sessions created from now on without `cache=`.

    Args:
        cache: The new default; None restores a fresh MemoryCache.
    """
    global _default
    with _default_lock:
        _default = cache
