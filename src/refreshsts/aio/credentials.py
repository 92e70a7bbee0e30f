"""AioRefreshingCredentials: the async face of a sync hop's refreshing credentials.

aiobotocore signs every request with `await credentials.get_frozen_credentials()`. Outside
the refresh windows that is one float comparison and no thread hop; inside them the sync
refresh (cache lock, STS, cache write) runs on a worker thread, so an STS call that takes
seconds never stalls the event loop, and the cache, windows and backoff stay those of the sync
session: one STS call serves sync and async callers alike.

The due callers of one event loop share one flight: a single worker thread of the loop's
default executor, which also resolves host names for aiohttp, however many tasks wait.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from aiobotocore.credentials import AioRefreshableCredentials
from botocore.credentials import ReadOnlyCredentials

from .._temporary import TemporaryCredentials
from ..credentials import RefreshingCredentials

__all__ = ["AioRefreshingCredentials"]

_T = TypeVar("_T")


class AioRefreshingCredentials(AioRefreshableCredentials):  # type: ignore[misc]
    """aiobotocore refreshable credentials that delegate to a sync `RefreshingCredentials`.

    A subclass of aiobotocore's own class so code that checks for it (s3fs, aioboto3) treats
    these as refreshable; none of its refresh machinery runs.
    """

    def __init__(self, credentials: RefreshingCredentials) -> None:
        self._sync = credentials
        self.method = "refreshsts"
        self._flights: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task[Any]] = {}
        self._flights_lock = threading.Lock()

    async def _in_flight(self, kind: str, call: Callable[[], _T]) -> _T:
        """`call()` on a worker thread, shared by every task of this loop that awaits `kind`.

        A finished flight (answer or error, which reaches every waiter) is forgotten, so the
        next due caller starts a new one; a waiter's cancellation leaves the flight running.
        """
        loop = asyncio.get_running_loop()
        key = (loop, kind)
        with self._flights_lock:
            flight = self._flights.get(key)
            if flight is None or flight.done():
                flight = loop.create_task(asyncio.to_thread(call))
                self._flights[key] = flight
                flight.add_done_callback(lambda done: self._land(key, done))
        result: _T = await asyncio.shield(flight)
        return result

    def _land(self, key: tuple[asyncio.AbstractEventLoop, str], flight: asyncio.Task[Any]) -> None:
        with self._flights_lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: every waiter got it

    @property
    def sync(self) -> RefreshingCredentials:
        """The sync credentials these read from (shared with the sync session)."""
        return self._sync

    async def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The keys to sign with now; a due refresh runs on a worker thread."""
        if not self._sync.refresh_needed():
            frozen: ReadOnlyCredentials = self._sync.get_frozen_credentials()
            return frozen
        return await self._in_flight("frozen", self._sync.get_frozen_credentials)

    async def get_temporary_credentials(self) -> TemporaryCredentials:
        """Like `get_frozen_credentials`, with the expiry and ARN of the keys."""
        if not self._sync.refresh_needed():
            return self._sync.get_temporary_credentials()
        return await self._in_flight("temporary", self._sync.get_temporary_credentials)

    async def get_access_key(self) -> str:
        frozen = await self.get_frozen_credentials()
        return str(frozen.access_key)

    async def get_secret_key(self) -> str:
        frozen = await self.get_frozen_credentials()
        return str(frozen.secret_key)

    async def get_token(self) -> str | None:
        frozen = await self.get_frozen_credentials()
        return None if frozen.token is None else str(frozen.token)

    async def get_account_id(self) -> str | None:
        return (await self.get_temporary_credentials()).account_id

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        return bool(self._sync.refresh_needed(refresh_in))

    def _seconds_remaining(self) -> float:
        return float(self._sync._seconds_remaining())

    def _is_expired(self) -> bool:
        return bool(self._sync._is_expired())

    async def refresh(self) -> None:
        """Fetch new credentials now (after an ExpiredToken answer), off the event loop."""
        await self._in_flight("refresh", self._sync.refresh)

    async def _refresh(self) -> None:
        await self._in_flight("frozen", self._sync.get_frozen_credentials)

    async def _protected_refresh(self, is_mandatory: bool) -> None:
        await self._refresh()

    @property
    def _expiry_time(self) -> Any:
        return self._sync.expiration

    @_expiry_time.setter
    def _expiry_time(self, value: Any) -> None:
        """aiobotocore's base class may assign it; the sync credentials own it."""

    @property
    def access_key(self) -> str | None:
        current = self._sync.credentials
        return None if current is None else current.access_key_id

    @property
    def secret_key(self) -> str | None:
        current = self._sync.credentials
        return None if current is None else current.secret_access_key

    @property
    def token(self) -> str | None:
        current = self._sync.credentials
        return None if current is None else current.session_token

    def __repr__(self) -> str:
        return f"<AioRefreshingCredentials {self._sync.label}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "AioRefreshingCredentials hold secrets and are not picklable; pickle the "
            "refreshsts.aio.RefreshableSession instead (it travels as its recipe)"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> AioRefreshingCredentials:
        return self
