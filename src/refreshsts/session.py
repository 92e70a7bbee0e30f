"""RefreshableSession: the boto3 face of a refreshing credential chain."""

from __future__ import annotations

import hashlib
import inspect
import pickle
import threading
import urllib.parse
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from ._chain import Chain
from ._internal import expired_token, forks
from ._internal.botocore_sessions import BOTO3_DATA, config_key, new_botocore_session
from ._internal.urls import is_http_url
from ._positions import plan_durations
from ._profiles import profile_session_options
from ._regions import check_region
from .caches import CredentialCache, get_default_cache
from .credentials import RefreshingCredentials
from .durations import DurationLike, parse_duration
from .errors import ConfigurationError
from .events import HopStatus, Listeners, RefreshListener
from .hops import Hop
from .refresh import OnDemandRefresh, RefreshStrategy, RefreshWindows
from .sources import Source, SourceLike, check_profile, resolve_source

__all__ = ["RefreshableSession"]


_F = TypeVar("_F")


def _typed_as(base: _F) -> Callable[[Callable[..., Any]], _F]:
    """Give an override the type of `base`, so boto3-stubs' overloads still type its calls."""
    del base
    return lambda override: override  # type: ignore[return-value]


class RefreshableSession(boto3.Session):  # type: ignore[misc]
    """A `boto3.Session` whose credentials come from a chain of STS hops and refresh themselves.

    Everything is validated here, before any network call; credentials are fetched on first
    use. Clients are cached per (service, region, endpoint, config) and safe to ask for from
    many threads. A pickled session carries its recipe, never a secret.

    Args:
        *hops: The STS calls to make, root side first, e.g. `AssumeRole(...)`; at least
            one, unless the source makes its own (`RolesAnywhere`).
        source: Whose credentials sign the first hop; by default botocore's default chain,
            or `profile` when that is given.
        region: The region for clients and the regional STS endpoint; by default the
            profile's or environment's region.
        duration: The duration of every hop without its own; out of a hop's range is an
            error, ``"max"`` asks each hop for its longest.
        cache: Where credentials are shared; by default `get_default_cache()`.
        windows: When to refresh; by default RefreshWindows().
        refresh: OnDemandRefresh() (the default) or BackgroundRefresh().
        sts_config: botocore Config merged into the STS clients' (retries, timeouts, proxies).
        sts_endpoint_url: An STS endpoint to use instead of AWS's.
        profile: The shared-config profile for settings, and the source when `source` is
            not given (as boto3's `profile_name=`).
        profile_name: boto3's spelling of `profile`.
        region_name: boto3's spelling of `region`.

    Raises:
        ConfigurationError: An option is malformed, a hop cannot follow the one before it,
            or a duration is out of a hop's range; raised before any network call.
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
        profile_name: str | None = None,
        region_name: str | None = None,
    ) -> None:
        profile_param = "profile" if profile_name is None else "profile_name"
        region_param = "region" if region_name is None else "region_name"
        profile = _alias("profile", profile, "profile_name", profile_name)
        region = _alias("region", region, "region_name", region_name)
        if profile is not None:
            profile = check_profile(profile, param=profile_param)
            if source is None:  # as in boto3, the profile is whose keys sign
                source = profile
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
        if region is not None:
            check_region(region, name=region_param)
        if sts_endpoint_url is not None and not is_http_url(str(sts_endpoint_url)):
            raise ConfigurationError(f"sts_endpoint_url={sts_endpoint_url!r} is not an http(s) URL")
        self._source = resolve_source(source)
        config_profile = self._source.profile if profile is None else profile
        chain_hops = (*self._source.leading_hops(), *hops)
        durations = plan_durations(chain_hops, session_duration, self._source)
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
            chain_hops,
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
        self._handed_out: weakref.WeakSet[Any] = weakref.WeakSet()
        forks.reset_in_child(self)
        botocore_session = new_botocore_session(
            profile=config_profile, credentials=self._chain.final
        )
        expired_token.register(botocore_session, self._chain.final)
        if region is None:
            region = botocore_session.get_config_variable("region") or self._source.region
        super().__init__(botocore_session=botocore_session, region_name=region)
        for creds in self._chain.credentials:
            creds.start()

    def _after_fork_in_child(self) -> None:
        """A child gets a free client lock, and clients taken before the fork (cached or
        held by the caller) get empty connection pools: none of the parent's sockets."""
        self._client_lock = threading.RLock()
        for client in list(self._handed_out):
            forks.drop_connections(client)

    def _register_default_handlers(self) -> None:
        """boto3's default handlers are among the built-ins every session shares."""

    def _setup_loader(self) -> None:
        self._loader = self._session.get_component("data_loader")
        if BOTO3_DATA not in self._loader.search_paths:
            self._loader.search_paths.append(BOTO3_DATA)

    @property
    def hops(self) -> tuple[Hop, ...]:
        """The hops of the chain, root side first, as given."""
        return self._hops

    @property
    def source(self) -> Source:
        """Where the root of the chain gets its credentials."""
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

        Returns:
            A dict to pass as ``storage_options=`` (pandas, Dask) or as
            ``s3fs.S3FileSystem(**options)``.
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
        """The final hop's credentials, as boto3 asks for them.

        Returns:
            A botocore `RefreshableCredentials` that refreshes itself.
        """
        return self._chain.final

    def status(self) -> tuple[HopStatus, ...]:
        """Each hop's expiry, refresh and failure counts, without refreshing.

        Returns:
            One HopStatus per hop, root side first; never a secret.
        """
        return tuple(creds.status() for creds in self._chain.credentials)

    def add_listener(self, listener: RefreshListener) -> Callable[[], None]:
        """Call `listener` with a RefreshEvent for every refresh of any hop of this session.

        Listeners run on the thread doing the refresh and must be quick; one that raises is
        logged and does not stop the others.

        Args:
            listener: Called with each RefreshEvent.

        Returns:
            A function that unsubscribes `listener`.
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

    @_typed_as(boto3.Session.client)
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
        """A boto3 client on this session's credentials, cached and shared across threads.

        Type checkers see boto3's own signature, so boto3-stubs' overloads apply:
        ``session.client("s3")`` is an `S3Client` when `mypy-boto3-s3` is installed.

        Args:
            service_name: The AWS service, e.g. ``"s3"``.
            region_name: The client's region; by default the session's.
            api_version: The service API version; by default the latest.
            use_ssl: Whether to use HTTPS.
            verify: Whether to verify TLS certificates, or a CA bundle's path.
            endpoint_url: An endpoint to use instead of AWS's.
            aws_access_key_id: Fixed keys instead of the session's: the client is then
                neither cached nor refreshed.
            aws_secret_access_key: See `aws_access_key_id`.
            aws_session_token: See `aws_access_key_id`.
            config: botocore Config for the client.
            aws_account_id: The account for account-based endpoints; like the keys, it
                makes a client that is not cached.

        Returns:
            The cached client for these arguments, made on first request.
        """
        kwargs = {
            "region_name": region_name,
            "api_version": api_version,
            "use_ssl": use_ssl,
            "verify": verify,
            "endpoint_url": endpoint_url,
            "config": config,
        }
        if aws_access_key_id or aws_secret_access_key or aws_session_token or aws_account_id:
            made = super().client(
                service_name,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                aws_session_token=aws_session_token,
                aws_account_id=aws_account_id,
                **kwargs,
            )
            self._handed_out.add(made)
            return made
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
                self._handed_out.add(found)
            return found

    def resource(self, *args: Any, **kwargs: Any) -> Any:
        """A new boto3 resource (resources are not thread-safe) over a cached client.

        Args:
            *args: As for `boto3.Session.resource`, e.g. ``"s3"``.
            **kwargs: As for `boto3.Session.resource`.

        Returns:
            A new boto3 service resource.
        """
        with self._client_lock:
            return super().resource(*args, **kwargs)

    def __repr__(self) -> str:
        chain = " -> ".join(link.hop.label for link in self._chain.links)
        return (
            f"RefreshableSession({chain}, source={self._source.label}, "
            f"region_name={self.region_name!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        proxy = _proxy_with_password(self._recipe["sts_config"])
        if proxy is not None:
            raise TypeError(
                f"this session's sts_config has a proxy with a password ({proxy}), and "
                "passwords never travel in a pickle: give the proxy in the receiving process "
                "instead (HTTPS_PROXY, or an sts_config built there)"
            )
        _, source = self._source.recipe()
        if source is None and self._recipe["profile"] is not None:
            source = _DEFAULT_CHAIN  # else the rebuilt session would sign with `profile`
        return (_rebuild, (self._hops, {**self._recipe, "source": source}))

    @classmethod
    def from_profile(cls, name: str, **overrides: Any) -> RefreshableSession:
        """A session on the role chain that profile `name` of the shared config describes.

        Reads `role_arn`, `source_profile` (recursively), `credential_source`, `external_id`,
        `mfa_serial`, `duration_seconds`, `role_session_name`, `web_identity_token_file`,
        `region` and `sts_regional_endpoints` into hops, so the chain gets refreshsts's
        refresh and caching; a root profile whose credentials come from
        `credential_process` becomes a CredentialProcess, cached like a hop. `overrides`
        are this class's keyword options (`cache=`, `duration=`, `region=`, ...) plus
        `mfa_token=`, a callable returning the current MFA code.

        Args:
            name: The profile, as in ``~/.aws/config``.
            **overrides: Keyword options of this class and `mfa_token=`.

        Returns:
            A new session.

        Raises:
            ConfigurationError: Loops, missing profiles, conflicting settings or unknown
                overrides, naming the profiles involved.
        """
        allowed = {
            param.name
            for param in inspect.signature(cls.__init__).parameters.values()
            if param.kind is inspect.Parameter.KEYWORD_ONLY and param.name != "source"
        }
        hops, options = profile_session_options(name, overrides, allowed)
        return cls(*hops, **options)


_DEFAULT_CHAIN = "<default credential chain>"
"""What a pickle carries for `source=None` next to a `profile=`: no profile has this name."""


def _proxy_with_password(config: Config | None) -> str | None:
    """The scheme://host of the first proxy in `config` whose URL carries a password."""
    proxies = getattr(config, "proxies", None) or {}
    for url in proxies.values():
        parts = urllib.parse.urlsplit(str(url))
        if parts.password is not None or (parts.username and "@" in parts.netloc):
            return f"{parts.scheme}://{parts.hostname}"
    return None


def _rebuild(hops: tuple[Hop, ...], options: dict[str, Any]) -> RefreshableSession:
    if options.get("source") == _DEFAULT_CHAIN:
        options = {**options, "source": resolve_source(None)}
    return RefreshableSession(*hops, **options)


def _alias(name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """`value`, or boto3's spelling `alias_value` of the same option; both is a mistake."""
    if alias_value is None:
        return value
    if value is not None:
        raise ConfigurationError(
            f"{name}={value!r} and {alias}={alias_value!r} are the same option (boto3 spells "
            f"it {alias}=): pass one of them"
        )
    return alias_value


def _is_cache(cache: object) -> bool:
    return all(callable(getattr(cache, name, None)) for name in ("get", "set", "delete", "lock"))
