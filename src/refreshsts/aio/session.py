"""refreshsts.aio.RefreshableSession: an aiobotocore session on a refreshing credential chain."""

from __future__ import annotations

from typing import Any

from aiobotocore.session import AioSession

from .._internal import expired_token
from .._internal.botocore_sessions import shared_loader
from ..events import HopStatus
from ..hops import Hop
from ..session import RefreshableSession as SyncRefreshableSession
from .credentials import AioRefreshingCredentials

__all__ = ["RefreshableSession"]


class RefreshableSession(AioSession):  # type: ignore[misc]
    """An `aiobotocore.session.AioSession` whose credentials come from STS hops and refresh.

    Takes the sync session's arguments (`*hops, source=, region=, duration=, cache=,
    windows=, refresh=, ...`) and builds one underneath: chain, caches and windows are the
    sync session's, so sync and async code in one process share each STS call. Refreshes run
    on a worker thread (the sync chain's), never on the event loop. A pickled session carries
    the recipe, never a secret; `s3fs.S3FileSystem(session=...)` and Dask accept it.

    Args:
        *hops: The STS calls to chain, root side first, as for `refreshsts.RefreshableSession`.
        **options: The sync session's keyword arguments: `source=`, `region=`, `duration=`,
            `cache=`, `windows=`, `refresh=`, `sts_config=`, `sts_endpoint_url=`, `profile=`.

    Raises:
        ConfigurationError: A hop or option is invalid (checked before any network call).
    """

    def __init__(self, *hops: Hop, **options: Any) -> None:
        self._bind(SyncRefreshableSession(*hops, **options))

    @classmethod
    def from_session(cls, session: SyncRefreshableSession) -> RefreshableSession:
        """The async twin of a sync session: same credentials object, no second chain.

        Args:
            session: A `refreshsts.RefreshableSession`.

        Returns:
            An async session whose STS calls and cache are `session`'s.

        Raises:
            TypeError: `session` is not a `refreshsts.RefreshableSession`.
        """
        if not isinstance(session, SyncRefreshableSession):
            raise TypeError(
                f"session={type(session).__name__} is not a refreshsts.RefreshableSession"
            )
        twin = cls.__new__(cls)
        twin._bind(session)
        return twin

    @classmethod
    def from_profile(cls, name: str, **overrides: Any) -> RefreshableSession:
        """The role chain profile `name` describes; see the sync `from_profile`.

        Args:
            name: A profile of the shared AWS config file.
            **overrides: Keyword arguments of `refreshsts.RefreshableSession` that replace
                what the profile says (`region=`, `cache=`, `duration=`, ...).

        Returns:
            An async session on the profile's role chain.

        Raises:
            ConfigurationError: The profile does not exist or cannot be read as a role chain.
        """
        return cls.from_session(SyncRefreshableSession.from_profile(name, **overrides))

    def _bind(self, session: SyncRefreshableSession) -> None:
        """Share the sync session's credentials and the process's parsed service models.

        Workers unpickle a session per task; a fresh loader would parse S3's model each time.
        """
        super().__init__(profile=session._session.profile)
        self.register_component("data_loader", shared_loader())
        self._sync = session
        self._credentials = AioRefreshingCredentials(session.get_credentials())
        expired_token.register_async(self, session.get_credentials())
        if session.region_name:
            self.set_config_variable("region", session.region_name)

    @property
    def sync(self) -> SyncRefreshableSession:
        """The sync session underneath, sharing these credentials."""
        return self._sync

    @property
    def region_name(self) -> str | None:
        """The region clients are created in, or None for botocore's default."""
        region: str | None = self._sync.region_name
        return region

    @property
    def hops(self) -> tuple[Hop, ...]:
        """The chain's hops, root side first."""
        return self._sync.hops

    def status(self) -> tuple[HopStatus, ...]:
        """Each hop's expiry, refresh and failure counts, root side first; never secrets.

        Returns:
            One `HopStatus` per hop, as the sync session's `status()`.
        """
        statuses: tuple[HopStatus, ...] = self._sync.status()
        return statuses

    async def get_credentials(self) -> AioRefreshingCredentials:
        """The final hop's credentials, as aiobotocore refreshable credentials.

        Returns:
            Credentials whose due refreshes run on one worker thread per event loop.
        """
        credentials: AioRefreshingCredentials = self._credentials
        return credentials

    def set_credentials(self, *args: Any, **kwargs: Any) -> None:
        """Refused: the hops are where the credentials come from.

        Args:
            *args: Ignored.
            **kwargs: Ignored.

        Raises:
            TypeError: Always.
        """
        raise TypeError(
            "a refreshsts.aio.RefreshableSession takes its credentials from its STS hops; "
            "create a plain aiobotocore session for fixed keys"
        )

    def close(self) -> None:
        """Stop refreshing ahead of time (shared with the sync session)."""
        self._sync.close()

    def storage_options(self) -> dict[str, Any]:
        """fsspec / s3fs / pandas / Dask `storage_options` for `s3://` URLs on this session.

        Returns:
            `{"session": self, "client_kwargs": {"region_name": ...}}`.
        """
        return storage_options(self)

    def __dask_tokenize__(self) -> str:
        return "aio-" + self._sync.__dask_tokenize__()

    def __repr__(self) -> str:
        """Deterministic per recipe: fsspec caches filesystem instances by it."""
        sync = self._sync
        chain = " -> ".join(hop.label for hop in sync.hops)
        return (
            f"refreshsts.aio.RefreshableSession({chain}, source={sync.source.label}, "
            f"region_name={sync.region_name!r}, recipe={sync.__dask_tokenize__()[:16]})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_session, (self._sync,))

    def __deepcopy__(self, memo: dict[int, Any]) -> RefreshableSession:
        return self


def _from_session(session: SyncRefreshableSession) -> RefreshableSession:
    return RefreshableSession.from_session(session)


def storage_options(session: RefreshableSession) -> dict[str, Any]:
    """`{"session": <aio session>, "client_kwargs": {"region_name": ...}}` for s3fs."""
    options: dict[str, Any] = {"session": session}
    if session.region_name:
        options["client_kwargs"] = {"region_name": session.region_name}
    return options
