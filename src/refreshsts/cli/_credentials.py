"""One consistent read of a session's credentials, and the timestamp format AWS tools read."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from .. import RefreshableSession
from .._temporary import TemporaryCredentials, account_of

__all__ = ["Snapshot", "account_of", "rfc3339", "role_arn_of", "snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """Keys, token, expiry and principal read together; the repr hides the secrets."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(repr=False)
    expiration: _dt.datetime | None
    arn: str | None
    account_id: str | None = None

    @classmethod
    def of(cls, credentials: TemporaryCredentials) -> Snapshot:
        """What `credentials` hold; keys that never expire have no expiration."""
        expiration = None
        if not credentials.never_expires:
            expiration = _dt.datetime.fromtimestamp(credentials.expiration, _dt.timezone.utc)
        return cls(
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
            expiration,
            credentials.arn,
            credentials.account_id,
        )


def snapshot(session: RefreshableSession) -> Snapshot:
    """The session's current credentials, refreshed first when they are due.

    Keys and expiry come from one `TemporaryCredentials` object when it matches the frozen
    keys, so a refresh finishing between two reads never pairs new keys with an old expiry.
    """
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials()
    current = getattr(credentials, "credentials", None)
    if current is not None and current.access_key_id == frozen.access_key:
        return Snapshot.of(current)
    return Snapshot(
        frozen.access_key,
        frozen.secret_key,
        frozen.token,
        getattr(credentials, "expiration", None),
        None,
        getattr(frozen, "account_id", None),
    )


def rfc3339(moment: _dt.datetime) -> str:
    """`2024-05-01T12:00:00Z`, rounded down to the second (never later than the truth)."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def role_arn_of(session: RefreshableSession) -> str | None:
    """The IAM role ARN of the session's last hop, when that hop assumes a role."""
    hops = session.hops
    arn = getattr(hops[-1], "role_arn", None) if hops else None
    return arn if isinstance(arn, str) else None
