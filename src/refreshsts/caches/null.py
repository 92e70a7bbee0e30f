"""NoCache: every session fetches its own credentials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._temporary import TemporaryCredentials

__all__ = ["NoCache"]


class NoCache:
    """A cache that keeps nothing, for callers who want each session to be on its own.

    Implements CredentialCache: `get` always misses and `lock` is never held.
    """

    def get(self, key: str) -> TemporaryCredentials | None:
        return None

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        return None

    def delete(self, key: str) -> None:
        return None

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        yield False

    def __repr__(self) -> str:
        return "NoCache()"
