"""RefreshingCredentials: botocore RefreshableCredentials with cheap reads and sized windows.

The hot path is one float comparison against a precomputed deadline on a UTC epoch clock;
botocore's reads build a timezone-aware `datetime` on every call.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, Literal, NoReturn

from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

from ._internal import at_hand, flights, scheduler, sts_errors, withheld, worker
from ._internal.backoff import Backoff
from ._temporary import TemporaryCredentials
from .caches import CredentialCache, NoCache
from .errors import RefreshError
from .events import HopStatus, Listeners, RefreshEvent
from .refresh import OnDemandRefresh, RefreshStrategy, RefreshWindows

__all__ = ["RefreshingCredentials"]

logger = logging.getLogger("refreshsts")

Window = Literal["ahead", "advisory", "mandatory", "forced"]

_NEVER = float("-inf")
_LOCK_WAIT_SHARE = 0.5
"""Part of `wait_timeout` spent waiting for the cache lock before calling STS anyway."""
_LIVE: weakref.WeakSet[RefreshingCredentials] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A refresh under way in the parent never finishes in the child: free its lock, and
    put back on the (new) scheduler what that refresh would have rescheduled."""
    for creds in list(_LIVE):
        creds._refresh_lock = threading.Lock()
        creds._reschedule_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class _StaleFallback(Exception):
    """STS failed, but the cache still holds credentials that are valid for a while."""

    def __init__(self, credentials: TemporaryCredentials) -> None:
        super().__init__("using a cached entry after a failed refresh")
        self.credentials = credentials


class RefreshingCredentials(RefreshableCredentials):  # type: ignore[misc]
    """Credentials of one hop that fetch themselves through a cache and refresh on time.

    Outside the advisory window a read costs one comparison. In the advisory window the
    first caller hands the refresh to a worker thread and everyone carries on with the
    credentials in hand; a failure there is logged and retried after a backoff, never
    raised. In the mandatory window callers wait for the refresh another caller is doing
    for at most the strategy's `wait_timeout`; the caller doing it is bounded by the STS
    client's timeouts and retries. A failure is raised as `RefreshError` only when the
    credentials in hand are about to expire. `BackgroundRefresh` refreshes before any window.
    An STS answer no retry can fix (AccessDenied, InvalidIdentityToken, ...) is remembered
    for `sts_errors.NEGATIVE_CACHE_SECONDS`: callers get it again at once, STS is not asked.
    `installed_at` is the `time.monotonic()` of the last install, which wall-clock jumps
    leave alone.

    RefreshableSession builds one per hop (see `hop_credentials` and `get_credentials`);
    there is no need to build one yourself.

    Args:
        fetch: Asks STS for this hop's credentials.
        cache: Where fetched credentials are shared.
        cache_key: Makes this hop's cache key (it may ask STS who the source is).
        label: How logs, events and errors name the hop.
        hop: 1-based position of the hop in its chain.
        windows: When to refresh; by default RefreshWindows().
        strategy: On demand or in the background; by default OnDemandRefresh().
        listeners: Who hears of each refresh.
    """

    def __init__(
        self,
        fetch: Callable[[], TemporaryCredentials],
        *,
        cache: CredentialCache,
        cache_key: Callable[[], str],
        label: str,
        hop: int,
        windows: RefreshWindows | None = None,
        strategy: RefreshStrategy | None = None,
        listeners: Listeners | None = None,
    ) -> None:
        # botocore's constructor insists on initial keys; these start empty and fill lazily.
        self._refresh_using = fetch
        self._access_key: str | None = None
        self._secret_key: str | None = None
        self._token: str | None = None
        self._account_id: str | None = None
        self._expiry_time: _dt.datetime | None = None
        self._time_fetcher = _utc_now
        self._refresh_lock = threading.Lock()
        self.method = "refreshsts"
        self._frozen_credentials: ReadOnlyCredentials | None = None

        self._cache = cache
        self._cache_key = cache_key
        self.label = label
        self.hop = hop
        self._windows = windows or RefreshWindows()
        self._strategy: RefreshStrategy = strategy or OnDemandRefresh()
        self._wait_timeout = self._strategy.wait_timeout
        self.listeners = listeners if listeners is not None else Listeners()
        self._backoff = Backoff()
        self._current: TemporaryCredentials | None = None
        self._advisory_at = _NEVER
        self._mandatory_at = _NEVER
        self._usable_until = _NEVER
        self._retry_at = _NEVER
        self._last_error: BaseException | None = None
        self._loading_key: str | None = None
        self._refused_key: str | None = None
        self._closed = False
        self.installed_at = _NEVER
        self.refresh_count = 0
        self.failure_count = 0
        _LIVE.add(self)

    # -- what botocore and boto3 read ------------------------------------------------------

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The keys to sign with now: refreshed first only when a window says so.

        Returns:
            botocore's access key, secret key and token triple.

        Raises:
            RefreshError: No valid credentials are left and the refresh failed.
        """
        if time.time() < self._advisory_at:
            return self._frozen_credentials
        self._refresh()
        return self._frozen_credentials

    def get_temporary_credentials(self) -> TemporaryCredentials:
        """Like `get_frozen_credentials`, with the expiry and ARN that belong to the keys.

        Returns:
            The credentials in hand, refreshed first when a window says so.

        Raises:
            RefreshError: No valid credentials are left and the refresh failed.
        """
        if time.time() >= self._advisory_at:
            self._refresh()
        current = self._current
        if current is None:  # pragma: no cover - _refresh raises instead
            self._fail(RuntimeError("no credentials were fetched"))
        return current

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        """Whether the credentials are due for a refresh (botocore's question).

        Args:
            refresh_in: Seconds before expiry that count as due; by default the advisory
                window.

        Returns:
            True when a refresh is due, or nothing was fetched yet.
        """
        now = time.time()
        if refresh_in is None:
            return now >= self._advisory_at
        return self._usable_until == _NEVER or now >= self._current_expiry() - refresh_in

    def _seconds_remaining(self) -> float:
        return self._current_expiry() - time.time()

    def _is_expired(self) -> bool:
        return time.time() >= self._usable_until

    @property
    def expiration(self) -> _dt.datetime | None:
        """When the credentials in hand expire (UTC), or None before the first fetch."""
        return self._expiry_time

    @property
    def credentials(self) -> TemporaryCredentials | None:
        """The credentials in hand without refreshing (None before the first fetch)."""
        return self._current

    def status(self) -> HopStatus:
        """Expiry, counts and the last failure of this hop, without refreshing.

        Returns:
            A snapshot without secrets.
        """
        now = time.time()
        current = self._current
        return HopStatus(
            hop=self.hop,
            label=self.label,
            expiration=self._expiry_time,
            seconds_left=None if current is None else current.expiration - now,
            refresh_count=self.refresh_count,
            failure_count=self.failure_count,
            last_error=None if self._last_error is None else _describe(self._last_error),
            next_attempt_in=self._retry_at - now if self._retry_at > now else None,
        )

    # -- explicit control ----------------------------------------------------------------

    def refresh(self, rejected: str | None = None) -> None:
        """Fetch new credentials now, past any cached copy of the ones in hand.

        For callers that know the credentials in hand were rejected (an ExpiredToken
        answer). Given the `rejected` access key id, nothing is fetched once another caller
        has replaced those keys, so many callers rejected at once make one fetch.

        Args:
            rejected: The access key id a service refused, if known.

        Raises:
            RefreshError: The fetch failed (or waited too long for another refresh) and
                nothing valid is left.
        """
        if not self._refresh_lock.acquire(timeout=self._wait_timeout):
            self._fail(TimeoutError(f"waited {self._wait_timeout:g} s for another refresh"))
        try:
            current = self._current
            if rejected is not None and current is not None and current.access_key_id != rejected:
                return
            if (
                self._last_error is not None
                and self._refused_until() > time.time()
                and not self._proof_changed()
            ):
                self._fail(self._last_error)
            self._attempt("forced")
        finally:
            self._refresh_lock.release()

    def wait_for_refresh(self, timeout: float | None = None) -> bool:
        """Block until no refresh of these credentials is under way.

        Args:
            timeout: Longest to wait, in seconds; None waits as long as it takes.

        Returns:
            True when no refresh is under way, False when `timeout` passed first.
        """
        if not self._refresh_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._refresh_lock.release()
        return True

    def start(self) -> None:
        """With a prefetching background strategy, fetch now on the scheduler, not on first use."""
        if not getattr(self._strategy, "prefetch", True):
            return
        if not self._closed and self._strategy.refresh_ahead_at(0.0, 1.0) is not None:
            scheduler.schedule(self, time.time())

    def close(self) -> None:
        """Stop refreshing ahead of time; reads still refresh on demand."""
        self._closed = True
        scheduler.cancel(self)

    def run_scheduled_refresh(self) -> None:
        """Called by the scheduler on the refresh pool when a refresh ahead is due."""
        if self._closed or not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._attempt("ahead")
        except Exception:
            logger.debug("refresh ahead of %s ended early", self.label, exc_info=True)
        finally:
            self._refresh_lock.release()

    # -- refresh timing ------------------------------------------------------------------

    def _refresh(self) -> None:
        now = time.time()
        if now < self._advisory_at:
            return
        if now < self._mandatory_at:
            if now < self._retry_at or not self._refresh_lock.acquire(blocking=False):
                return
            try:
                worker.submit(self._advisory_refresh)
            except RuntimeError:  # interpreter shutdown: the credentials in hand still serve
                self._refresh_lock.release()
            return
        if not self._refresh_lock.acquire(timeout=self._wait_timeout):
            if time.time() < self._usable_until:
                return
            self._fail(TimeoutError(f"waited {self._wait_timeout:g} s for another refresh"))
        try:
            now = time.time()
            if now < self._mandatory_at:
                return
            if now < self._retry_at and not self._proof_changed():
                if now < self._usable_until:
                    return
                if self._last_error is not None:
                    self._fail(self._last_error)
            self._attempt("mandatory")
        finally:
            self._refresh_lock.release()

    def _advisory_refresh(self) -> None:
        """Run on the refresh pool holding `_refresh_lock`, which the caller acquired."""
        try:
            if time.time() >= self._advisory_at:
                self._attempt("advisory")
        except Exception:
            logger.debug("advisory refresh of %s ended early", self.label, exc_info=True)
        finally:
            self._refresh_lock.release()

    def _attempt(self, window: Window) -> None:
        started = time.time()
        logger.debug("refreshing %s (%s)", self.label, window)
        if self.listeners:
            self.listeners.emit(RefreshEvent("started", self.hop, self.label, window))
        rejected = self._current.access_key_id if window == "forced" and self._current else None
        self._loading_key = None
        try:
            fresh = self._load(newer_than=self._current_expiry(), rejected=rejected)
        except _StaleFallback as stale:
            cause = stale.__cause__ or stale
            self._note_failure(cause, started, window)
            if stale.credentials.expiration > self._current_expiry():
                self._install(stale.credentials)
            if time.time() >= self._usable_until:
                self._fail(cause)
            return
        except Exception as exc:
            self._note_failure(exc, started, window)
            if window != "forced" and time.time() < self._usable_until:
                return
            self._fail(exc)
        self._backoff.reset()
        self._last_error = None
        self._refused_key = None
        self._retry_at = _NEVER
        self._install(fresh)
        self.refresh_count += 1
        latency = time.time() - started
        logger.info(
            "refreshed %s in %.3f s (%s); expires %s (in %.0f s)",
            self.label,
            latency,
            window,
            self._expiry_time.isoformat() if self._expiry_time else "?",
            fresh.seconds_left(),
        )
        if self.listeners:
            self.listeners.emit(
                RefreshEvent("succeeded", self.hop, self.label, window, latency, self._expiry_time)
            )

    def _note_failure(self, exc: BaseException, started: float, window: Window) -> None:
        now = time.time()
        self.failure_count += 1
        self._last_error = exc
        deadline = self._mandatory_at if window in ("ahead", "advisory") else self._usable_until
        refused = sts_errors.non_recoverable_code(exc)
        self._refused_key = None if refused is None else self._loading_key
        if refused is None:
            delay = self._backoff.next_delay(now, deadline)
        else:
            delay = sts_errors.NEGATIVE_CACHE_SECONDS
        self._retry_at = now + delay
        remaining = self._usable_until - now
        # With nothing valid left the caller gets a RefreshError saying the same thing, and
        # may be a program about to exit: no promise of a next attempt.
        not_retried = "" if refused is None else f" ({refused} is not retried before then)"
        if remaining > 0:
            logger.warning(
                "refreshing %s failed after %.3f s: %s; credentials in hand stay valid for "
                "%.0f s; next attempt in %.1f s%s",
                self.label,
                now - started,
                _describe(exc),
                remaining,
                delay,
                not_retried,
            )
        else:
            logger.info(
                "refreshing %s failed after %.3f s: %s; no valid credentials left",
                self.label,
                now - started,
                _describe(exc),
            )
        self._schedule(self._retry_at)
        if self.listeners:
            self.listeners.emit(
                RefreshEvent(
                    "failed",
                    self.hop,
                    self.label,
                    window,
                    now - started,
                    self._expiry_time,
                    _describe(exc),
                )
            )

    def _fail(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, RefreshError) and exc.hop is not None:
            raise exc  # an earlier hop's or the source's, already naming where it failed
        left = self._refused_until() - time.time() if exc is self._last_error else 0.0
        remembered = (
            f"; {sts_errors.non_recoverable_code(exc)} is an answer no retry can fix: STS is "
            f"not asked again for {math.ceil(left)} s"
            if left > 0
            else ""
        )
        raise RefreshError(
            f"could not refresh {self.label} and no valid credentials are left: "
            f"{_describe(exc)}{remembered}",
            hop=self.hop,
            description=self.label,
        ) from exc

    def _refused_until(self) -> float:
        """Until when the last failure, an answer no retry can fix, stands in for STS."""
        if sts_errors.non_recoverable_code(self._last_error) is None:
            return _NEVER
        return self._retry_at

    def _proof_changed(self) -> bool:
        """Whether the hop would now present another proof than the one STS refused.

        The refusal answers a request, and the cache key names what it presents (a digest
        of a web identity token or SAML assertion): a rotated token file is a new request
        and goes to STS at once. A key that cannot be made now, or only by asking a token
        callable (see `at_hand`), leaves the refusal standing.
        """
        if self._refused_key is None or sts_errors.non_recoverable_code(self._last_error) is None:
            return False
        try:
            with at_hand.only_at_hand():
                return withheld.calling(self._cache_key) != self._refused_key
        except Exception:
            return False

    def _install(self, fresh: TemporaryCredentials) -> None:
        lifetime = max(fresh.lifetime, 1.0)
        self.installed_at = time.monotonic()
        self._current = fresh
        self._access_key = fresh.access_key_id
        self._secret_key = fresh.secret_access_key
        self._token = fresh.session_token
        self._expiry_time = _dt.datetime.fromtimestamp(fresh.expiration, _dt.timezone.utc)
        self._account_id = fresh.account_id
        self._frozen_credentials = ReadOnlyCredentials(
            fresh.access_key_id, fresh.secret_access_key, fresh.session_token, fresh.account_id
        )
        self._usable_until = fresh.expiration - self._windows.margin(lifetime)
        self._mandatory_at = fresh.expiration - self._windows.mandatory(lifetime)
        self._advisory_at = fresh.expiration - self._windows.advisory(lifetime)
        ahead = self._strategy.refresh_ahead_at(self._advisory_at, lifetime)
        if ahead is not None:
            self._schedule(ahead)

    def _reschedule_after_fork(self) -> None:
        if self._current is None or self._closed:
            return
        ahead = self._strategy.refresh_ahead_at(self._advisory_at, max(self._current.lifetime, 1))
        if ahead is not None:
            scheduler.schedule(self, max(ahead, self._retry_at))

    def _schedule(self, due: float) -> None:
        if not self._closed and self._strategy.refresh_ahead_at(0.0, 1.0) is not None:
            scheduler.schedule(self, due)

    def _current_expiry(self) -> float:
        return self._current.expiration if self._current is not None else _NEVER

    # -- the cache, consulted here and nowhere else -----------------------------------------

    def _usable_entry(
        self, entry: TemporaryCredentials | None, newer_than: float, rejected: str | None
    ) -> TemporaryCredentials | None:
        """A cached entry worth taking: newer than ours, not rejected, before its window."""
        if entry is None or entry.expiration <= newer_than or entry.access_key_id == rejected:
            return None
        if time.time() >= entry.expiration - self._windows.advisory(max(entry.lifetime, 1.0)):
            return None
        return entry

    def _load(self, *, newer_than: float, rejected: str | None) -> TemporaryCredentials:
        # Made afresh on every load: a key names the token the hop presents now, so an
        # entry is never found with a token it was not fetched with (say one since expired).
        key = withheld.calling(self._cache_key)
        self._loading_key = key
        found = self._usable_entry(self._cache_get(key), newer_than, rejected)
        if found is not None:
            logger.debug("%s: using cached credentials", self.label)
            return found
        if isinstance(self._cache, NoCache):
            return self._fetch(key, newer_than, rejected)
        fetched, leading = flights.share(
            (id(self._cache), key),
            lambda: self._fetch(key, newer_than, rejected),
            wait=self._wait_timeout,
        )
        if leading or self._usable_entry(fetched, newer_than, rejected) is not None:
            return fetched
        return self._fetch(key, newer_than, rejected)

    def _expired_on_arrival(self, fresh: TemporaryCredentials) -> RefreshError:
        """A fetch answered with keys already expired fails like any fetch: none are used."""
        expired = _dt.datetime.fromtimestamp(fresh.expiration, _dt.timezone.utc).isoformat()
        return RefreshError(
            f"{self.label} was handed credentials that expired at {expired} (a clock out of "
            "step, or an answer held up in transit): none were used",
            hop=self.hop,
            description=self.label,
        )

    def _fetch(self, key: str, newer_than: float, rejected: str | None) -> TemporaryCredentials:
        """The cache entry another process stored meanwhile, else STS's answer, stored.

        The cache lock is waited for only part of `wait_timeout`: a stalled holder (a
        process stopped with Ctrl-Z, a planted Redis lock) leaves time to call STS directly.
        """
        with ExitStack() as stack:
            try:
                acquired = stack.enter_context(
                    self._cache.lock(key, self._wait_timeout * _LOCK_WAIT_SHARE)
                )
                if not acquired and not isinstance(self._cache, NoCache):  # it never locks
                    logger.info(
                        "%s: the cache lock stayed held for %.3g s; refreshing without it",
                        self.label,
                        self._wait_timeout * _LOCK_WAIT_SHARE,
                    )
            except Exception as exc:
                logger.warning(
                    "%s: cache lock unavailable (%s); refreshing without it",
                    self.label,
                    _describe(exc),
                )
            cached = self._cache_get(key)
            found = self._usable_entry(cached, newer_than, rejected)
            if found is not None:
                return found
            try:
                fresh = withheld.calling(self._refresh_using)
                if fresh.expiration <= time.time():
                    raise self._expired_on_arrival(fresh)
            except Exception as exc:
                if (
                    cached is not None
                    and cached.access_key_id != rejected
                    and time.time()
                    < cached.expiration - self._windows.margin(max(cached.lifetime, 1.0))
                ):
                    raise _StaleFallback(cached) from exc
                raise
            if fresh.never_expires:
                return fresh
            try:
                self._cache.set(key, fresh)
            except Exception as exc:
                logger.warning(
                    "%s: could not store credentials in the cache: %s", self.label, _describe(exc)
                )
            return fresh

    def _cache_get(self, key: str) -> TemporaryCredentials | None:
        try:
            return self._cache.get(key)
        except Exception as exc:
            logger.warning(
                "%s: cache read failed (%s); treating it as a miss", self.label, _describe(exc)
            )
            return None

    # -- hygiene -------------------------------------------------------------------------

    def __repr__(self) -> str:
        expiry = self._expiry_time.isoformat() if self._expiry_time else "not fetched"
        return f"<RefreshingCredentials {self.label} expires={expiry}>"

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "RefreshingCredentials hold secrets and are not picklable; pickle the "
            "RefreshableSession instead (it travels as its recipe)"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> RefreshingCredentials:
        return self


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
