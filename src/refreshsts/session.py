"""RefreshableSession: the boto3 face of a refreshing credential chain."""

from __future__ import annotations

import hashlib
import pickle
import re
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from ._chain import Chain
from ._internal import expired_token
from ._internal.botocore_sessions import BOTO3_DATA, config_key, new_botocore_session
from ._positions import plan_durations
from .caches import CredentialCache, get_default_cache
from .credentials import RefreshingCredentials
from .durations import DurationLike, parse_duration
from .errors import ConfigurationError
from .events import HopStatus, Listeners, RefreshListener
from .hops import Hop
from .refresh import OnDemandRefresh, RefreshStrategy, RefreshWindows
from .sources import Source, SourceLike, check_profile, resolve_source

__all__ = ["RefreshableSession"]

_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+|aws-global", re.ASCII)
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


class RefreshableSession(boto3.Session):  # type: ignore[misc]
    """A `boto3.Session` whose credentials come from a chain of STS hops and refresh themselves.

    Everything is validated here, before any network call; credentials are fetched on first
    use. Clients are cached per (service, region, endpoint, config) and safe to ask for from
    many threads. A pickled session carries its recipe, never a secret.
    """

    def __init__(
        self,
        *hops: Hop,
        source: SourceLike = None,
        region: str | None = None,
        duration: DurationLike | None = None,
        cache: CredentialCache | None = None,
        windows: RefreshWindows | None = None,
        refresh: RefreshStrategy | None = None,
        sts_config: Config | None = None,
        sts_endpoint_url: str | None = None,
        profile: str | None = None,
    ) -> None:
        session_duration = None if duration is None else parse_duration(duration)
        if cache is not None and not _is_cache(cache):
            raise ConfigurationError(
                f"cache={type(cache).__name__} does not implement CredentialCache "
                "(get, set, delete, lock): pass MemoryCache(), NoCache() or another backend"
            )
        if sts_config is not None and not isinstance(sts_config, Config):
            raise ConfigurationError(
                f"sts_config={type(sts_config).__name__} is not a botocore.config.Config"
            )
        if windows is not None and not isinstance(windows, RefreshWindows):
            raise ConfigurationError(f"windows={type(windows).__name__} is not RefreshWindows")
        if refresh is not None and not isinstance(refresh, RefreshStrategy):
            raise ConfigurationError(
                f"refresh={type(refresh).__name__} is not a refresh strategy: pass "
                "OnDemandRefresh() or BackgroundRefresh()"
            )
        if region is not None and not _REGION.fullmatch(str(region)):
            raise ConfigurationError(
                f"region={region!r} is not an AWS region name such as 'us-west-2'"
            )
        if sts_endpoint_url is not None and not _URL.fullmatch(str(sts_endpoint_url)):
            raise ConfigurationError(f"sts_endpoint_url={sts_endpoint_url!r} is not an http(s) URL")
        self._source = resolve_source(source)
        config_profile = self._source.profile if profile is None else check_profile(profile)
        durations = plan_durations(hops, session_duration, self._source)
        self._hops = tuple(hops)
        self._recipe: dict[str, Any] = {
            "region": region,
            "duration": duration,
            "cache": cache,
            "windows": windows,
            "refresh": refresh,
            "sts_config": sts_config,
            "sts_endpoint_url": sts_endpoint_url,
            "profile": profile,
        }
        self._listeners = Listeners()
        self._chain = Chain(
            hops,
            source=self._source,
            durations=durations,
            cache=cache if cache is not None else get_default_cache(),
            windows=windows or RefreshWindows(),
            strategy=refresh or OnDemandRefresh(),
            listeners=self._listeners,
            region=region,
            sts_config=sts_config,
            sts_endpoint_url=sts_endpoint_url,
            profile=config_profile,
        )
        self._clients: dict[Any, Any] = {}
        self._client_lock = threading.RLock()
        botocore_session = new_botocore_session(
            profile=config_profile, credentials=self._chain.final
        )
        expired_token.register(botocore_session, self._chain.final)
        if region is None:
            region = botocore_session.get_config_variable("region") or self._source.region
        super().__init__(botocore_session=botocore_session, region_name=region)
        for creds in self._chain.credentials:
            creds.start()

    def _setup_loader(self) -> None:
        self._loader = self._session.get_component("data_loader")
        if BOTO3_DATA not in self._loader.search_paths:
            self._loader.search_paths.append(BOTO3_DATA)

    @property
    def hops(self) -> tuple[Hop, ...]:
        return self._hops

    @property
    def source(self) -> Source:
        return self._source

    @property
    def hop_credentials(self) -> tuple[RefreshingCredentials, ...]:
        """Each hop's refreshing credentials, root side first (for inspection and tests)."""
        return tuple(self._chain.credentials)

    @property
    def windows(self) -> RefreshWindows:
        """The refresh windows of every hop of this session."""
        windows: RefreshWindows | None = self._recipe["windows"]
        return windows or RefreshWindows()

    def storage_options(self) -> dict[str, Any]:
        """fsspec `storage_options` for `s3://` URLs, refreshing for as long as the job runs.

        `{"session": <refreshsts.aio twin>, "client_kwargs": {"region_name": ...}}`, which
        s3fs, pandas and Dask accept; the twin shares this session's credentials and pickles
        as its recipe. Needs the `aio` extra.
        """
        from .aio.session import RefreshableSession as AioRefreshableSession  # noqa: PLC0415

        return AioRefreshableSession.from_session(self).storage_options()

    def __dask_tokenize__(self) -> str:
        """A hash of the recipe: equal sessions give equal Dask task names, in any process."""
        try:
            recipe = pickle.dumps(self.__reduce__()[1], protocol=4)
        except (TypeError, AttributeError, pickle.PicklingError):
            return f"unpicklable-{id(self):x}"
        return hashlib.sha256(recipe).hexdigest()

    def get_credentials(self) -> RefreshingCredentials:
        """The final hop's credentials: a botocore `RefreshableCredentials`."""
        return self._chain.final

    def status(self) -> tuple[HopStatus, ...]:
        """Each hop's expiry, refresh and failure counts, root side first; never secrets."""
        return tuple(creds.status() for creds in self._chain.credentials)

    def add_listener(self, listener: RefreshListener) -> Callable[[], None]:
        """Call `listener` with a RefreshEvent for every refresh of any hop of this session.

        Listeners run on the thread doing the refresh and must be quick; returns a function
        that unsubscribes.
        """
        return self._listeners.add(listener)

    def close(self) -> None:
        """Stop refreshing ahead of time and close cached clients' connections."""
        for creds in self._chain.credentials:
            creds.close()
        with self._client_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> RefreshableSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def client(
        self,
        service_name: str,
        region_name: str | None = None,
        api_version: str | None = None,
        use_ssl: bool | None = True,
        verify: bool | str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        config: Config | None = None,
        aws_account_id: str | None = None,
    ) -> Any:
        """A boto3 client on this session's credentials, cached and shared across threads."""
        kwargs = {
            "region_name": region_name,
            "api_version": api_version,
            "use_ssl": use_ssl,
            "verify": verify,
            "endpoint_url": endpoint_url,
            "config": config,
        }
        if aws_access_key_id or aws_secret_access_key or aws_session_token or aws_account_id:
            return super().client(
                service_name,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                aws_session_token=aws_session_token,
                aws_account_id=aws_account_id,
                **kwargs,
            )
        key = (
            service_name,
            region_name,
            api_version,
            use_ssl,
            verify,
            endpoint_url,
            config_key(config),
        )
        found = self._clients.get(key)
        if found is not None:
            return found
        with self._client_lock:
            found = self._clients.get(key)
            if found is None:
                found = super().client(service_name, **kwargs)
                self._clients[key] = found
            return found

    def resource(self, *args: Any, **kwargs: Any) -> Any:
        """A new boto3 resource (resources are not thread-safe) over a cached client."""
        with self._client_lock:
            return super().resource(*args, **kwargs)

    def __repr__(self) -> str:
        chain = " -> ".join(hop.label for hop in self.hops)
        return (
            f"RefreshableSession({chain}, source={self._source.label}, "
            f"region_name={self.region_name!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        _, profile = self._source.recipe()
        return (_rebuild, (self._hops, {**self._recipe, "source": profile}))

    @classmethod
    def from_profile(cls, name: str, **overrides: Any) -> RefreshableSession:
        """A session on the role chain that profile `name` of the shared config describes.

        Reads `role_arn`, `source_profile` (recursively), `credential_source`, `external_id`,
        `mfa_serial`, `duration_seconds`, `role_session_name`, `web_identity_token_file`,
        `region` and `sts_regional_endpoints` into hops, so the chain gets refreshsts's
        refresh and caching. `overrides` are this class's keyword options (`cache=`,
        `duration=`, `region=`, ...) plus `mfa_token=`, a callable returning the current MFA
        code. Loops, missing profiles and conflicting settings are a ConfigurationError
        naming the profiles involved.
        """
        from ._profiles import session_from_profile  # noqa: PLC0415 - _profiles builds cls

        return session_from_profile(cls, name, overrides)


def _rebuild(hops: tuple[Hop, ...], options: dict[str, Any]) -> RefreshableSession:
    return RefreshableSession(*hops, **options)


def _is_cache(cache: object) -> bool:
    return all(callable(getattr(cache, name, None)) for name in ("get", "set", "delete", "lock"))
