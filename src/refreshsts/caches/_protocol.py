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
        """The entry stored under `key`; never raises for a missing or bad entry.

        Args:
            key: The entry's cache key, a hex digest.

        Returns:
            The stored credentials, or None when there are none to trust.
        """

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        """Store `credentials` under `key` until they expire.

        Args:
            key: The entry's cache key, a hex digest.
            credentials: What STS handed out.
        """

    def delete(self, key: str) -> None:
        """Forget `key` (after STS rejected what was stored).

        Args:
            key: The entry's cache key, a hex digest.
        """

    def lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        """Hold the refresh of `key`, so one holder calls STS while the others wait.

        Args:
            key: The entry's cache key, a hex digest.
            timeout: Longest to wait for another holder, in seconds.

        Returns:
            A context manager yielding True when the lock is held, False when it was not
            obtained in time (the caller then refreshes without it).
        """
