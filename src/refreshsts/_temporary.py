"""TemporaryCredentials: what an STS operation hands back, in the one shape every layer shares."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NEVER_EXPIRES", "TemporaryCredentials", "account_of"]

FORMAT_VERSION = 1
NEVER_EXPIRES = 253402300799.0
"""9999-12-31T23:59:59Z: the expiration of keys handed out without one (a credential_process
printing no Expiration). They are held by their process and never stored in a cache."""


@dataclass(frozen=True)
class TemporaryCredentials:
    """Keys, token and timing of one STS answer; times are UTC epoch seconds.

    The repr shows the expiry and the principal, never the secret or the token. Custom
    cache backends store it with `to_dict` and read it back with `from_dict`.

    Args:
        access_key_id: The AccessKeyId.
        secret_access_key: The SecretAccessKey.
        session_token: The SessionToken, None for long-term keys.
        expiration: When the credentials expire, as epoch seconds.
        issued: When they were asked for, as epoch seconds; by default now.
        arn: The principal STS named (assumed-role or federated user ARN), if any.
    """

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(repr=False)
    expiration: float
    issued: float = field(default_factory=time.time)
    arn: str | None = None
    account_id: str | None = None
    """The account the keys belong to: the ARN's, or the signer's for GetSessionToken."""

    def __post_init__(self) -> None:
        if self.account_id is None and self.arn is not None:
            object.__setattr__(self, "account_id", account_of(self.arn))

    @property
    def never_expires(self) -> bool:
        """True for keys handed out without an expiration (at NEVER_EXPIRES).

        Whoever fetched them holds them; they are never stored in a cache, where a copy
        would outlive a rotation of the keys (they are usually an IAM user's).
        """
        return self.expiration >= NEVER_EXPIRES

    @property
    def lifetime(self) -> float:
        """Seconds from issue to expiry."""
        return self.expiration - self.issued

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until expiry.

        Args:
            now: The moment to measure from, as epoch seconds; by default the current time.

        Returns:
            Seconds left, negative once expired.
        """
        return self.expiration - (time.time() if now is None else now)

    @classmethod
    def from_sts(
        cls, response: Mapping[str, Any], *, issued: float, arn_key: str | None = None
    ) -> TemporaryCredentials:
        """Build from an STS response dict (`Credentials` plus an optional user ARN)."""
        creds = response["Credentials"]
        expiration = creds["Expiration"]
        if isinstance(expiration, _dt.datetime):
            if expiration.tzinfo is None:
                expiration = expiration.replace(tzinfo=_dt.timezone.utc)
            expires = expiration.timestamp()
        else:
            expires = _dt.datetime.fromisoformat(str(expiration).replace("Z", "+00:00")).timestamp()
        arn = None
        if arn_key is not None:
            arn = (response.get(arn_key) or {}).get("Arn")
        return cls(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds.get("SessionToken"),
            expiration=expires,
            issued=issued,
            arn=arn,
        )

    def to_dict(self) -> dict[str, Any]:
        """The versioned, JSON-ready form every cache backend stores.

        Returns:
            A dict of text and None values, secrets included: seal or protect it.
        """
        return {
            "version": FORMAT_VERSION,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "session_token": self.session_token,
            "expiration": _iso(self.expiration),
            "issued": _iso(self.issued),
            "arn": self.arn,
            "account_id": self.account_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemporaryCredentials:
        """Inverse of `to_dict`.

        Args:
            data: What `to_dict` returned, e.g. parsed back from JSON.

        Returns:
            The credentials.

        Raises:
            ValueError: `data` has another format version or a missing or bad field.
        """
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported cache entry version {data.get('version')!r}")
        try:
            return cls(
                access_key_id=str(data["access_key_id"]),
                secret_access_key=str(data["secret_access_key"]),
                session_token=None if data["session_token"] is None else str(data["session_token"]),
                expiration=_parse_iso(data["expiration"]),
                issued=_parse_iso(data["issued"]),
                arn=None if data.get("arn") is None else str(data["arn"]),
                account_id=None if data.get("account_id") is None else str(data["account_id"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed cache entry: missing or bad {exc}") from None


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat()


def _parse_iso(text: object) -> float:
    if not isinstance(text, str):
        raise TypeError("timestamp")
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def account_of(arn: str | None) -> str | None:
    """The 12-digit account ID an ARN names, or None."""
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None
