"""polars: a `credential_provider=` callable on a refreshing session."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from ._lease import lease

if TYPE_CHECKING:
    from ..session import RefreshableSession

__all__ = ["PolarsCredentialProvider", "polars_credential_provider"]


class PolarsCredentialProvider:
    """`() -> (credentials dict, expiry)`, the shape polars' `credential_provider=` calls.

    polars signs with the keys it holds until the expiry it was told, so the expiry reported
    is refreshsts's mandatory refresh point (rounded down), never the real Expiration: polars
    asks again while the keys in hand are still valid. Pickles as the session's recipe, so
    it travels to Dask or multiprocessing workers without a secret.

    Args:
        session: A `refreshsts.RefreshableSession` (or its `refreshsts.aio` twin).

    Raises:
        TypeError: `session` is not a refreshsts session.
    """

    def __init__(self, session: RefreshableSession) -> None:
        from ..session import RefreshableSession  # noqa: PLC0415 - avoid a cycle at import

        session = cast("RefreshableSession", getattr(session, "sync", session))  # aio twin
        if not isinstance(session, RefreshableSession):
            raise TypeError(
                f"session={type(session).__name__} is not a refreshsts.RefreshableSession"
            )
        self.session = session

    def __call__(self) -> tuple[dict[str, str], int]:
        """The keys to sign with now and when to ask again (epoch seconds, rounded down).

        Returns:
            `({"aws_access_key_id": ..., "aws_secret_access_key": ..., "aws_session_token":
            ...}, expiry)`.

        Raises:
            RefreshError: No valid credentials are left and the refresh failed.
        """
        current = lease(self.session)
        creds = current.credentials
        keys = {
            "aws_access_key_id": creds.access_key_id,
            "aws_secret_access_key": creds.secret_access_key,
        }
        if creds.session_token:
            keys["aws_session_token"] = creds.session_token
        return keys, math.floor(current.renew_at)

    def __repr__(self) -> str:
        return f"PolarsCredentialProvider({self.session!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PolarsCredentialProvider, (self.session,))


def polars_credential_provider(session: RefreshableSession) -> PolarsCredentialProvider:
    """The callable to pass as polars' `credential_provider=` for `s3://` scans and writes.

    Args:
        session: A `refreshsts.RefreshableSession` (or its `refreshsts.aio` twin).

    Returns:
        A picklable callable returning `(keys dict, expiry epoch seconds)`; the expiry is
        refreshsts's refresh deadline, so polars asks again before the keys expire.

    Raises:
        TypeError: `session` is not a refreshsts session.
    """
    return PolarsCredentialProvider(session)
