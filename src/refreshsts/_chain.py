"""A chain of hops: each hop's STS client is signed by the credentials before it."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from ._internal import expired_token, forks, sts_progress
from ._internal.botocore_sessions import new_botocore_session, sts_client_config
from ._positions import chained_at, is_unsigned, unsigned_config
from ._temporary import TemporaryCredentials
from .caches import CredentialCache, FileCache, MemoryCache, NoCache
from .credentials import RefreshingCredentials
from .durations import MAX, format_duration
from .errors import ConfigurationError
from .events import Listeners
from .hops import Hop
from .hops._base import Duration
from .refresh import RefreshStrategy, RefreshWindows, waiting_at_least
from .sources import Source, root_proof

__all__ = ["Chain", "WrapStsClient"]

GLOBAL_STS_HOST = "sts.amazonaws.com"

logger = logging.getLogger("refreshsts")

DEFAULT_STS_REGION = "us-east-1"
SIGNER_WAIT = 10.0
"""Longest a hop bounded by its signer's lifetime waits for the signer's refresh under way."""


def new_sts_client(
    signer: Credentials | None,
    *,
    profile: str | None,
    region: str,
    endpoint_url: str | None,
    config: Config,
) -> Any:
    """An STS client signed by `signer` on the shared loader, with the ExpiredToken retry
    (for refreshing signers) and the progress log of slow calls."""
    session = new_botocore_session(profile=profile, credentials=signer)
    if isinstance(signer, RefreshingCredentials):
        expired_token.register(session, signer)
    sts_progress.watch(session)
    return session.create_client(
        "sts", region_name=region, endpoint_url=endpoint_url, config=config
    )


class WrapStsClient(Protocol):
    """A source's hook over the chain's STS clients (see `Chain.wrap_sts_client`).

    `waiting` says which of a link's two clients `make` builds: the one with the shorter
    first-fetch timeouts (True) or the one of ordinary refreshes; a hook sharing clients
    must keep the two apart.
    """

    def __call__(self, make: Callable[[], Any], *, waiting: bool) -> Any: ...


class _Link:
    """One hop in its position: the STS client it calls through and the duration it asks."""

    def __init__(
        self,
        hop: Hop,
        *,
        chained: bool,
        duration: Duration,
        signer: Credentials | None,
        chain: Chain,
    ) -> None:
        self.hop = hop
        self.chained = chained
        self._chain = chain
        self._signer = signer
        self._is_max = duration == MAX
        self._duration: int | None = (
            hop.limits(chained=chained).maximum if duration == MAX else duration
        )
        self._stepped_down = False
        self._client: Any = None
        self._waiting_client: Any = None
        self.credentials: RefreshingCredentials | None = None
        """This hop's credentials, set by the chain: whether anything valid is in hand."""
        self._lock = threading.Lock()
        forks.reset_in_child(self, "_lock")

    def _after_fork_in_child(self) -> None:
        """A new STS client: the child must not talk on the parent's keep-alive sockets."""
        self._client = None
        self._waiting_client = None

    @property
    def sts_client(self) -> Any:
        """The client of refreshes made while the credentials in hand are still valid."""
        with self._lock:
            if self._client is None:
                self._client = self._chain.sts_client(self._signing_credentials())
            return self._client

    @property
    def waiting_sts_client(self) -> Any:
        """The client of a fetch a caller waits on, nothing valid in hand: shorter timeouts."""
        with self._lock:
            if self._waiting_client is None:
                self._waiting_client = self._chain.sts_client(
                    self._signing_credentials(), waiting=True
                )
            return self._waiting_client

    def _signing_credentials(self) -> Credentials | None:
        if is_unsigned(self.hop):
            return None
        return self._signer if self._signer is not None else self._chain.source.credentials()

    def _nothing_in_hand(self) -> bool:
        current = None if self.credentials is None else self.credentials.credentials
        return current is None or current.seconds_left() <= 0

    def fetch(self) -> TemporaryCredentials:
        fresh = self._call()
        if fresh.account_id is not None:
            return fresh
        return dataclasses.replace(fresh, account_id=self._signer_account())

    def _signer_account(self) -> str | None:
        """Whose account keys without an ARN (GetSessionToken's) belong to: their signer's."""
        if is_unsigned(self.hop):
            return None
        if self._signer is not None:
            return getattr(self._signer.get_frozen_credentials(), "account_id", None)
        try:
            return self._chain.source.account_id(lambda: self.sts_client)
        except (ClientError, BotoCoreError) as exc:
            # The keys are good; only botocore's account-based endpoints go without.
            logger.warning("%s: account ID unknown: %s", self.hop.label, type(exc).__name__)
            return None

    def _signer_seconds_left(self) -> float | None:
        """Seconds the signing hop's credentials have left, once a refresh of them that is
        due has ended (for at most SIGNER_WAIT seconds): credentials bounded by them made
        from the old ones would expire with the old ones."""
        if not isinstance(self._signer, RefreshingCredentials):
            return None
        self._signer.get_frozen_credentials()
        self._signer.wait_for_refresh(SIGNER_WAIT)
        held = self._signer.credentials
        return None if held is None else held.seconds_left()

    def _call(self) -> TemporaryCredentials:
        client = None
        if self.hop.calls_sts:
            client = self.waiting_sts_client if self._nothing_in_hand() else self.sts_client
        duration = self._duration
        if self.hop.bounded_by_caller:
            left = self._signer_seconds_left()
            if duration is not None:
                duration = self.hop.fit_duration(duration, left)
        try:
            return self.hop.call(client, duration=duration)
        except ClientError as exc:
            if not self._is_max or self._stepped_down or self._duration is None:
                raise
            lower = self.hop.step_down(exc, self._duration, chained=self.chained)
            if lower is None:
                raise
            logger.info(
                "%s: STS refused %s (%s); asking for %s from now on",
                self.hop.label,
                format_duration(self._duration),
                exc.response.get("Error", {}).get("Message", ""),
                format_duration(lower),
                extra={sts_progress.NOTICE: True},
            )
            self._duration, self._stepped_down = lower, True
            return self.hop.call(client, duration=lower)

    def cache_fields(self) -> dict[str, Any]:
        duration = "max" if self._is_max else self._duration
        return {"operation": self.hop.operation, "duration": duration, **self.hop.cache_fields()}


class Chain:
    """Hops in order, each with RefreshingCredentials fed by the hop before it.

    `durations` are the ones `plan_durations` settled for `hops` after `source`.
    """

    def __init__(
        self,
        hops: Sequence[Hop],
        *,
        source: Source,
        durations: Sequence[Duration],
        cache: CredentialCache,
        windows: RefreshWindows,
        strategy: RefreshStrategy,
        listeners: Listeners,
        region: str | None,
        sts_config: Config | None,
        sts_endpoint_url: str | None,
        profile: str | None = None,
    ) -> None:
        _refuse_untrusted_cache(hops, cache)
        self.source = source
        self.profile = profile if profile is not None else source.profile
        self._region = region
        self._sts_config = sts_client_config(sts_config)
        self._waiting_sts_config = sts_client_config(sts_config, waiting=True)
        self._sts_endpoint_url = sts_endpoint_url
        self.wrap_sts_client: WrapStsClient | None = getattr(source, "wrap_sts_client", None)
        """Given the maker of a new STS client and whether it is for a waiting first fetch,
        the client to use: a source may share one among chains or rate-limit them
        (AccountRoles does both)."""
        self.links: list[_Link] = []
        self.credentials: list[RefreshingCredentials] = []
        signer: Credentials | None = None
        for index, (hop, duration) in enumerate(zip(hops, durations, strict=True)):
            link = _Link(
                hop,
                chained=chained_at(hops, index, source),
                duration=duration,
                signer=signer,
                chain=self,
            )
            creds = RefreshingCredentials(
                link.fetch,
                cache=cache,
                cache_key=functools.partial(self.cache_key, index),
                label=f"hop {index + 1} of {len(hops)} ({hop.label})",
                hop=index + 1,
                windows=windows,
                strategy=waiting_at_least(strategy, hop.refresh_wait()),
                listeners=listeners,
            )
            link.credentials = creds
            self.links.append(link)
            self.credentials.append(creds)
            signer = creds
        self._refuse_global_endpoint(hops)

    def _refuse_global_endpoint(self, hops: Sequence[Hop]) -> None:
        """Refuse, before any call, a regional-only hop whose STS endpoint is the global one."""
        regional = [(index, hop) for index, hop in enumerate(hops) if hop.regional_only]
        if not regional:
            return
        url = self._new_sts_client(None).meta.endpoint_url
        if urllib.parse.urlsplit(url).hostname != GLOBAL_STS_HOST:
            return
        index, hop = regional[0]
        raise ConfigurationError(
            f"hop {index + 1} of {len(hops)} ({hop.label}): STS answers {hop.operation} only "
            f"on regional endpoints, and this session's STS endpoint is the global {url}: "
            "pass region= (such as 'us-east-1') without a global sts_endpoint_url, or "
            "sts_endpoint_url='https://sts.<region>.amazonaws.com', and drop "
            "sts_regional_endpoints = legacy and region 'aws-global'"
        )

    @property
    def final(self) -> RefreshingCredentials:
        return self.credentials[-1]

    @property
    def sts_region(self) -> str:
        """`region=`, else the settings profile's region, else the source's, else us-east-1."""
        if self._region:
            return self._region
        if self.profile is not None and self.profile != self.source.profile:
            region = new_botocore_session(profile=self.profile).get_config_variable("region")
            if region:
                return str(region)
        return self.source.region or DEFAULT_STS_REGION

    def sts_client(self, signer: Credentials | None, *, waiting: bool = False) -> Any:
        """An STS client signed by `signer` (None: unsigned), honouring AWS_ENDPOINT_URL(_STS).

        `waiting`: for fetches a caller waits on with nothing in hand (shorter timeouts).
        """
        make = functools.partial(self._new_sts_client, signer, waiting=waiting)
        if self.wrap_sts_client is None:
            return make()
        return self.wrap_sts_client(make, waiting=waiting)

    def _new_sts_client(self, signer: Credentials | None, *, waiting: bool = False) -> Any:
        host = urllib.parse.urlsplit(self._sts_endpoint_url or "").hostname
        config = self._waiting_sts_config if waiting else self._sts_config
        return new_sts_client(
            signer,
            profile=self.profile,
            # the global endpoint only accepts requests signed for us-east-1
            region="us-east-1" if host == GLOBAL_STS_HOST else self.sts_region,
            endpoint_url=self._sts_endpoint_url,
            config=config if signer is not None else unsigned_config(config),
        )

    def cache_key(self, index: int) -> str:
        """A digest of the root principal and every hop up to `index`; no secret goes in."""
        material = {
            "root": "unsigned"
            if is_unsigned(self.links[0].hop)
            else self.source.identity(lambda: self.links[0].sts_client),
            "endpoint": self._sts_endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_STS")
            or os.environ.get("AWS_ENDPOINT_URL"),
            "hops": [
                link.cache_fields() | self._proof_before(position, index)
                for position, link in enumerate(self.links[: index + 1])
            ],
        }
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _proof_before(self, position: int, index: int) -> dict[str, str]:
        """A proof of the keys hop `position` holds, for the key of a later hop `index`,
        when nothing else names whose keys they are (a credential_process prints any)."""
        link = self.links[position]
        if position == index or link.hop.names_principal or link.credentials is None:
            return {}
        return {"holder": root_proof(link.credentials.get_frozen_credentials())}


def _refuse_untrusted_cache(hops: Sequence[Hop], cache: CredentialCache) -> None:
    """Refuse a cache others may write for a hop whose cache key anyone can compute.

    This user's FileCache refuses files others could write, a MemoryCache lives in this
    process, and a sealed cache's entries cannot be forged without its key; any other
    cache (a RedisCache with encrypt=False, a backend of your own) would serve whatever a
    writer planted under the computed key, and a session would sign with it.
    """
    if isinstance(cache, (FileCache, MemoryCache, NoCache)) or getattr(cache, "encrypted", False):
        return
    for hop in hops:
        if getattr(hop, "keyed_by_public_facts", False):
            raise ConfigurationError(
                f"cache={cache!r} is unsealed and may be shared beyond this host: anyone who "
                f"can write to it could plant credentials for {hop.label}, whose cache key "
                "holds no secret (the command line, its program, the user id and the host "
                "name); seal it with a key (key= or REFRESHSTS_CACHE_KEY), or use a "
                "FileCache or MemoryCache"
            )
