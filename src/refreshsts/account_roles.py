"""AccountRoles: one role assumed in many accounts, through one shared hub chain.

A scanner, inventory or backup job assumes the same role in tens to thousands of accounts.
Here the hops before that role (`via`, e.g. a hub role) run once for every account: each
account's role is assumed with the hub's credentials through one shared STS client, sessions
stay in a bounded LRU, STS requests can be held under a rate (in one process or, with a
RedisCache, across hosts), and `map` turns each account's refusal into that account's result.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cachetools import LRUCache

from ._chain import WrapStsClient
from ._internal import forks
from ._internal.rate import RedisTokenBucket, TokenBucket
from ._positions import chained_at
from .caches import CredentialCache, RedisCache
from .durations import MAX, DurationLike, format_duration, parse_duration
from .errors import ConfigurationError, RefreshError
from .hops import AssumeRole, Hop
from .refresh import RefreshStrategy
from .session import RefreshableSession
from .sources import Source, SourceLike, resolve_source

__all__ = ["AccountRoles"]

logger = logging.getLogger("refreshsts")

T = TypeVar("T")

PLACEHOLDER = "{account}"
_ACCOUNT = re.compile(r"\d{12}", re.ASCII)
_TEMPLATE = re.compile(r"arn:[a-z][a-z0-9-]*:iam::\{account\}:role/[^{}\s]+", re.ASCII)
_PROBE_ACCOUNT = "000000000000"
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)
MAX_WORKERS = 256
MAX_STS_RATE = 10_000.0


class _SharedSource(Source):
    """The root of AccountRoles' chains: `inner`'s (or the hub's) credentials, and STS
    clients made through `wrap_sts_client`, which the chains pick up when they are built."""

    def __init__(
        self,
        inner: Source,
        wrap_sts_client: WrapStsClient,
        hub: RefreshableSession | None = None,
    ) -> None:
        if hub is None:
            label, role_session, temporary = inner.label, inner.role_session, inner.temporary
        else:
            temporary = None
            last = hub.hops[-1]
            label = f"the hub ({last.label})"
            role_session = f"the hub {last.label}" if last.returns_role_session else None
            if role_session is None and last.chains_assume_role:
                temporary = f"the hub's {last.operation} session"
        super().__init__(
            profile=inner.profile,
            label=label,
            picklable=False,
            why_not_picklable=(
                "a session of AccountRoles is not picklable on its own; pickle the "
                "AccountRoles and call .session(account) on the other side"
            ),
            role_session=role_session,
            temporary=temporary,
        )
        self.wrap_sts_client = wrap_sts_client
        self._inner = inner
        self._hub = hub

    @property
    def botocore_session(self) -> Any:
        return self._inner.botocore_session

    def credentials(self) -> Credentials:
        if self._hub is not None:
            return self._hub.get_credentials()
        return self._inner.credentials()

    def leading_hops(self) -> tuple[Hop, ...]:
        """`inner`'s own hops (CreateSession, a credential_process) lead only the chain it
        roots."""
        return () if self._hub is not None else self._inner.leading_hops()

    def identity(self, sts_client: Callable[[], Any]) -> str:
        """The hub chain's cache key names the principal without asking STS per account."""
        if self._hub is None:
            return self._inner.identity(sts_client)
        chain = self._hub._chain
        return f"hub:{chain.cache_key(len(chain.links) - 1)}"


class _AccountRoleProbe(AssumeRole):
    """The account role before any account: errors about it show the template, not
    `_PROBE_ACCOUNT`, which no user ever passed."""

    @property
    def label(self) -> str:
        template = super().label.replace(f"::{_PROBE_ACCOUNT}:", f"::{PLACEHOLDER}:", 1)
        return f"the account role, {template}"


class _Sessions(LRUCache[str, RefreshableSession]):
    """Live account sessions; an evicted one stops refreshing ahead (reads still refresh)."""

    def popitem(self) -> tuple[str, RefreshableSession]:
        account, session = super().popitem()
        for creds in session.hop_credentials:
            creds.close()
        return account, session


class AccountRoles:
    """The role `role_arn_template` (with `{account}`) in any account, after the hops `via`.

    ```python
    roles = AccountRoles(
        "arn:aws:iam::{account}:role/audit",
        AssumeRole("arn:aws:iam::111111111111:role/hub"),
        source="ops",
    )
    for account, result in roles.map(lambda session, account: ..., accounts=None):
        ...
    ```

    `source`, `duration`, `region`, `cache` and `refresh` are as for `RefreshableSession` and
    apply to the hub chain and to every account (a `duration` over 1 h is the hub's: account
    roles after it are role chaining and ask for AWS's cap, 1 h); `session_name` and
    `external_id` are the account role's. The hub chain is one chain shared by all accounts
    (one AssumeRole per hop per window, however many accounts), and every account's
    AssumeRole is signed by its credentials through STS clients shared by all accounts (one
    for first fetches, one for refreshes). `max_sessions` account sessions stay alive (least
    recently used first out); an evicted one is rebuilt on demand and finds its credentials
    in `cache`. `max_sts_rate` holds every STS request of this object (retries included)
    under that many per second; with a `RedisCache` the bucket lives in Redis and is shared
    by every process using the same hops and Redis namespace.

    Args:
        role_arn_template: The account role's ARN with ``{account}`` in place of the account
            ID, e.g. ``"arn:aws:iam::{account}:role/audit"``.
        *via: Hops run before every account role (a hub role, say), shared by all accounts.
        source: Who signs the first hop, as for `RefreshableSession`.
        session_name: RoleSessionName of every account role; by default
            ``refreshsts-USER@HOST``.
        external_id: ExternalId sent with every account role's AssumeRole.
        duration: Duration of every hop (900 s to the hop's maximum, or ``"max"``). After
            a hub the account roles are role chaining, capped at 1 h by AWS: a longer
            duration applies to the hops in `via` and the account roles ask for 1 h.
        region: Region of the sessions and of STS.
        cache: Where credentials are shared; by default the process-wide MemoryCache.
        refresh: OnDemandRefresh() (default) or BackgroundRefresh().
        max_sessions: How many account sessions stay alive (1 or more).
        max_sts_rate: STS requests per second for this object, or None for no limit.

    Raises:
        ConfigurationError: The template has no ``{account}`` or is not a role ARN, or
            another option is out of range (before any STS call).
    """

    throttle_attempts = 8
    """Tries per account when STS answers with throttling, before it counts as a failure."""
    throttle_delay = (0.5, 8.0)
    """First and largest pause (s) between those tries, doubling with jitter."""

    def __init__(
        self,
        role_arn_template: str,
        *via: Hop,
        source: SourceLike = None,
        session_name: str | None = None,
        external_id: str | None = None,
        duration: DurationLike | None = None,
        region: str | None = None,
        cache: CredentialCache | None = None,
        refresh: RefreshStrategy | None = None,
        max_sessions: int = 256,
        max_sts_rate: float | None = None,
    ) -> None:
        if not isinstance(role_arn_template, str) or not _TEMPLATE.fullmatch(role_arn_template):
            raise ConfigurationError(
                f"role_arn_template={role_arn_template!r} must be an IAM role ARN with "
                "{account} as its account, e.g. 'arn:aws:iam::{account}:role/audit'"
            )
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int):
            raise ConfigurationError(f"max_sessions={max_sessions!r} must be an int >= 1")
        if not 1 <= max_sessions <= 1_000_000:
            raise ConfigurationError(
                f"max_sessions={max_sessions!r} must be 1-1,000,000 live account sessions"
            )
        if max_sts_rate is not None and (
            isinstance(max_sts_rate, bool)
            or not isinstance(max_sts_rate, (int, float))
            or not 0 < max_sts_rate <= MAX_STS_RATE
        ):
            raise ConfigurationError(
                f"max_sts_rate={max_sts_rate!r} must be STS requests per second in "
                f"(0, {MAX_STS_RATE:g}], or None for no limit"
            )
        self.role_arn_template = role_arn_template
        self._hop_options: dict[str, Any] = {
            "session_name": session_name,
            "external_id": external_id,
        }
        self._options: dict[str, Any] = {
            "region": region,
            "duration": duration,
            "cache": cache,
            "refresh": refresh,
        }
        self._recipe = (source, max_sessions, max_sts_rate)
        self._via = tuple(via)
        self._source = resolve_source(source)
        self._limiter = self._bucket(max_sts_rate, cache)
        self._hub: RefreshableSession | None = None
        if via:
            hub_source = _SharedSource(self._source, self._limited)
            self._hub = RefreshableSession(*via, source=hub_source, **self._options)
        self._accounts_source = _SharedSource(self._source, self._shared_client, self._hub)
        self._account_options = {**self._options, "duration": self._account_duration(duration)}
        # Every option of an account session is checked now, on a session that never calls.
        RefreshableSession(
            _AccountRoleProbe(
                self.role_arn_template.replace(PLACEHOLDER, _PROBE_ACCOUNT), **self._hop_options
            ),
            source=self._accounts_source,
            region=region,
            duration=self._account_options["duration"],
            cache=cache,
        )
        if refresh is not None and not isinstance(refresh, RefreshStrategy):
            raise ConfigurationError(f"refresh={type(refresh).__name__} is not RefreshStrategy")
        self._sessions = _Sessions(maxsize=max_sessions)
        self._lock = threading.Lock()
        self._clients: dict[bool, Any] = {}
        self._client_lock = threading.Lock()
        forks.reset_in_child(self, "_lock", "_client_lock")

    def _account_duration(self, duration: DurationLike | None) -> DurationLike | None:
        """`duration` for the account roles: past a hub, their longest when it is longer.

        `duration` is for the hops in `via` (their session checked it); an account role
        signed by a hub's role session is role chaining, which AWS caps at 1 h, so a longer
        `duration` would otherwise refuse every account.
        """
        if not self._via or duration is None:
            return duration
        seconds = parse_duration(duration)
        role = self._hop(_PROBE_ACCOUNT)
        if not chained_at((role,), 0, self._accounts_source):
            return duration
        longest = role.limits(chained=True).maximum
        if seconds == MAX or seconds <= longest:
            return duration
        logger.info(
            "AccountRoles: duration=%s is for the hops in via; the account roles after them "
            "are role chaining, which AWS caps at %s, so they ask for that",
            format_duration(seconds),
            format_duration(longest),
        )
        return MAX

    def _after_fork_in_child(self) -> None:
        """A child makes its own STS clients: never ones on the parent's keep-alive sockets."""
        self._clients = {}

    # -- the STS side ---------------------------------------------------------------------

    def _bucket(self, rate: float | None, cache: CredentialCache | None) -> TokenBucket | None:
        if rate is None:
            return None
        if isinstance(cache, RedisCache):
            material = json.dumps(
                [self.role_arn_template, [hop.cache_fields() for hop in self._via]],
                sort_keys=True,
                default=str,
            )
            digest = hashlib.sha256(material.encode()).hexdigest()[:32]
            return RedisTokenBucket(cache._client, f"{cache.namespace}:sts-rate:{digest}", rate)
        return TokenBucket(rate)

    def _limited(self, make: Callable[[], Any], *, waiting: bool) -> Any:
        """`make`'s client, holding its requests to `max_sts_rate`; a hub link keeps its two
        clients (`waiting` or not) apart itself."""
        del waiting
        client = make()
        if self._limiter is not None:
            client.meta.events.register("before-send.sts", self._limiter.before_send)
        return client

    def _shared_client(self, make: Callable[[], Any], *, waiting: bool) -> Any:
        """Two STS clients for every account's AssumeRole, as they all sign with the same
        keys: one with the short timeouts of a first fetch a caller waits on, one for the
        rest (ordinary refreshes must not fail fast for being second)."""
        with self._client_lock:
            client = self._clients.get(waiting)
            if client is None:
                client = self._clients[waiting] = self._limited(make, waiting=waiting)
            return client

    def _hop(self, account: str) -> AssumeRole:
        return AssumeRole(self.role_arn_template.replace(PLACEHOLDER, account), **self._hop_options)

    # -- sessions -------------------------------------------------------------------------

    @property
    def hub(self) -> RefreshableSession | None:
        """The session of the hops in `via` (None without them)."""
        return self._hub

    def role_arn(self, account: str) -> str:
        """The role ARN for `account`.

        Args:
            account: A 12-digit AWS account ID.

        Returns:
            The template with `account` in place of ``{account}``.

        Raises:
            ConfigurationError: `account` is not 12 digits.
        """
        return self.role_arn_template.replace(PLACEHOLDER, check_account(account))

    def session(self, account: str) -> RefreshableSession:
        """The session of `account`'s role: kept while among the `max_sessions` most recent.

        Args:
            account: A 12-digit AWS account ID.

        Returns:
            The account's RefreshableSession (the same object while it stays in the LRU).

        Raises:
            ConfigurationError: `account` is not 12 digits (no STS call is made).
        """
        account = check_account(account)
        with self._lock:
            found = self._sessions.get(account)
            if found is None:
                found = RefreshableSession(
                    self._hop(account), source=self._accounts_source, **self._account_options
                )
                self._sessions[account] = found
            return found

    def __len__(self) -> int:
        """How many account sessions are alive in the LRU."""
        return len(self._sessions)

    def organization_accounts(self) -> list[str]:
        """The IDs of the ACTIVE accounts of the AWS Organization, asked through the hub.

        Returns:
            Account IDs in the order Organizations lists them.
        """
        if self._hub is not None:
            client = self._hub.client("organizations")
        else:
            client = self._source.botocore_session.create_client(
                "organizations", region_name=self._options["region"] or self._source.region
            )
        accounts: list[str] = []
        for page in client.get_paginator("list_accounts").paginate():
            for account in page.get("Accounts", ()):
                status = account.get("State") or account.get("Status")
                if status == "ACTIVE":
                    accounts.append(str(account["Id"]))
        return accounts

    # -- fan-out --------------------------------------------------------------------------

    def map(
        self,
        fn: Callable[[RefreshableSession, str], T],
        accounts: Iterable[str] | None = None,
        *,
        max_workers: int = 16,
    ) -> Iterator[tuple[str, T | BaseException]]:
        """Call `fn(session, account)` for each account on `max_workers` threads.

        Yields `(account, result)` as each finishes; `result` is what `fn` returned or the
        exception it raised. Never raises for one account: a role that cannot be assumed
        (AccessDenied, a trust policy, a missing role) is that account's `RefreshError`, and
        STS throttling is retried with backoff first. `accounts=None` means the
        organization's ACTIVE accounts. Every ID is checked before any call; duplicates are
        visited once.

        Args:
            fn: Called as ``fn(session, account)`` for each account.
            accounts: 12-digit account IDs, or None for the organization's ACTIVE accounts.
            max_workers: Threads visiting accounts at once.

        Returns:
            An iterator of ``(account, result)`` in completion order.

        Raises:
            ConfigurationError: `fn` is not callable, `max_workers` is out of range or an
                account ID is not 12 digits (before any call).
        """
        if not callable(fn):
            raise ConfigurationError(f"fn={fn!r} is not callable: pass f(session, account)")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise ConfigurationError(f"max_workers={max_workers!r} must be an int 1-{MAX_WORKERS}")
        if not 1 <= max_workers <= MAX_WORKERS:
            raise ConfigurationError(f"max_workers={max_workers!r} must be 1-{MAX_WORKERS}")
        if accounts is None:
            todo = self.organization_accounts()
        elif isinstance(accounts, str):
            raise ConfigurationError(
                f"accounts={accounts!r} is one string: pass a list of 12-digit account IDs"
            )
        else:
            todo = [check_account(account) for account in accounts]
        return self._fan_out(fn, list(dict.fromkeys(todo)), max_workers)

    def _fan_out(
        self, fn: Callable[[RefreshableSession, str], T], accounts: list[str], max_workers: int
    ) -> Iterator[tuple[str, T | BaseException]]:
        pending = iter(accounts)
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="refreshsts-accounts"
        )
        running: dict[concurrent.futures.Future[T], str] = {}
        try:
            for account in pending:
                running[executor.submit(self._visit, fn, account)] = account
                if len(running) >= 2 * max_workers:
                    break
            while running:
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    account = running.pop(future)
                    error = future.exception()
                    yield account, (future.result() if error is None else error)
                    following = next(pending, None)
                    if following is not None:
                        running[executor.submit(self._visit, fn, following)] = following
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _visit(self, fn: Callable[[RefreshableSession, str], T], account: str) -> T:
        session = self.session(account)
        self._credentials_for(session, account)
        return fn(session, account)

    def _credentials_for(self, session: RefreshableSession, account: str) -> None:
        """Fetch the account's credentials, waiting out throttling; else its RefreshError."""
        creds = session.get_credentials()
        first, largest = self.throttle_delay
        for attempt in range(self.throttle_attempts):
            try:
                if attempt == 0:
                    creds.get_frozen_credentials()
                else:
                    creds.refresh()
                return
            except RefreshError as exc:
                if not _throttled(exc) or attempt == self.throttle_attempts - 1:
                    raise _account_error(account, self.role_arn(account), exc) from exc
                pause = random.uniform(0.5, 1.0) * min(largest, first * 2**attempt)
                logger.info("account %s: STS throttled; trying again in %.1f s", account, pause)
                time.sleep(pause)

    # -- lifecycle and hygiene --------------------------------------------------------------

    def close(self) -> None:
        """Stop refreshing ahead and close the clients of every session kept here."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
        if self._hub is not None:
            self._hub.close()

    def __enter__(self) -> AccountRoles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        via = "".join(f" via {hop.label}" for hop in self._via)
        return (
            f"AccountRoles({self.role_arn_template!r}{via}, source={self._source.label}, "
            f"sessions={len(self._sessions)}/{self._sessions.maxsize})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        source, max_sessions, max_sts_rate = self._recipe
        _, carried = resolve_source(source).recipe() if source is not None else ("", None)
        options = {
            **self._hop_options,
            **self._options,
            "source": carried,
            "max_sessions": max_sessions,
            "max_sts_rate": max_sts_rate,
        }
        return (_rebuild, (self.role_arn_template, self._via, options))


def _rebuild(template: str, via: tuple[Hop, ...], options: dict[str, Any]) -> AccountRoles:
    return AccountRoles(template, *via, **options)


def check_account(account: object) -> str:
    """`account` when it is a 12-digit AWS account ID string; else a ConfigurationError."""
    if isinstance(account, str) and _ACCOUNT.fullmatch(account):
        return account
    if isinstance(account, int) and not isinstance(account, bool):
        raise ConfigurationError(
            f"account {account!r} is an int: pass the 12-digit account ID as a string "
            "(leading zeros are part of it)"
        )
    raise ConfigurationError(f"account {account!r} is not an AWS account ID (12 digits)")


def _throttled(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            error = current.response.get("Error", {})
            if error.get("Code") in THROTTLING_CODES or "Rate exceeded" in str(
                error.get("Message", "")
            ):
                return True
        current = current.__cause__ or current.__context__
    return False


def _account_error(account: str, role_arn: str, exc: RefreshError) -> RefreshError:
    return RefreshError(
        f"account {account}: could not assume {role_arn}: {exc}",
        hop=exc.hop,
        description=f"account {account} ({role_arn})",
    )
