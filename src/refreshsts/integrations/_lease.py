"""What consumers that hold keys themselves need: the keys and when to ask again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._temporary import TemporaryCredentials

if TYPE_CHECKING:
    from ..session import RefreshableSession

__all__ = ["Lease", "lease"]


@dataclass(frozen=True)
class Lease:
    """Credentials and the moment their holder must come back for new ones (epoch seconds).

    `renew_at` is refreshsts's own mandatory refresh point, before the real Expiration by
    the mandatory window: a consumer that uses keys right up to the expiry it is told (polars,
    DuckDB, the AWS C++ SDK) then never signs with a key that has expired.
    """

    credentials: TemporaryCredentials = field(repr=False)
    renew_at: float


def lease(session: RefreshableSession) -> Lease:
    """The session's current credentials (refreshed first when due) and their renewal time."""
    credentials = session.get_credentials().get_temporary_credentials()
    lifetime = max(credentials.lifetime, 1.0)
    renew_at = credentials.expiration - session.windows.mandatory(lifetime)
    return Lease(credentials, renew_at)
