"""The CredentialCache protocol every backend implements."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from .._temporary import TemporaryCredentials

__all__ = ["CredentialCache"]


@runtime_checkable
class CredentialCache(Protocol):
    """Where refreshed credentials are kept so sessions, processes or hosts can share them.

    Keys are hex digests that contain no secret. `lock` gives single-flight: while one
    holder refreshes an entry, others wait (up to `timeout` seconds) and then read it. A
    backend that cannot lock returns a context that yields False and callers go ahead.
    """

    def get(self, key: str) -> TemporaryCredentials | None:
        """The entry stored under `key`, or None; never raises for a missing or bad entry."""

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        """Store `credentials` under `key` until they expire."""

    def delete(self, key: str) -> None:
        """Forget `key` (after STS rejected what was stored)."""

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        """Hold the refresh of `key`; yields whether the lock was obtained in time."""
