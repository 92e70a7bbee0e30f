"""GetSessionToken: temporary credentials for an IAM user itself, the one hop that lasts 36 h."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _validate as check
from ._base import Duration, Hop, init_duration
from ._call import note_root_cap, send
from ._mfa import MfaToken, next_code

__all__ = ["GetSessionToken"]

SESSION_TOKEN_MAX = 129600


@dataclass(frozen=True, eq=True)
class GetSessionToken(Hop):
    """Session credentials for the IAM user in the source (sts:GetSessionToken).

    STS refuses this call from a role session, so it can only be the first hop. With
    `mfa_serial`, `mfa_token` is called for the device's current code each time STS is
    called (never for cached credentials); without `mfa_token`, the code is asked for on the
    terminal. The account root user's session tokens last at most 1 h, whatever is asked.
    """

    duration: Duration = None
    mfa_serial: str | None = None
    mfa_token: MfaToken | None = field(default=None, repr=False, compare=False)

    operation: ClassVar[str] = "GetSessionToken"
    may_follow_role: ClassVar[bool] = False

    def __init__(
        self,
        *,
        duration: DurationLike | None = None,
        mfa_serial: str | None = None,
        mfa_token: MfaToken | None = None,
    ) -> None:
        serial, token = check.mfa("GetSessionToken", mfa_serial, mfa_token)
        object.__setattr__(self, "mfa_serial", serial)
        object.__setattr__(self, "mfa_token", token)
        object.__setattr__(self, "duration", None)
        init_duration(self, "GetSessionToken", duration)

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(900, SESSION_TOKEN_MAX, 43200)

    @property
    def label(self) -> str:
        if self.mfa_serial is None:
            return "GetSessionToken"
        return f"GetSessionToken with MFA {self.mfa_serial}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the MFA code, which is asked for only when STS is called."""
        params: dict[str, Any] = {} if duration is None else {"DurationSeconds": duration}
        if self.mfa_serial is not None:
            params["SerialNumber"] = self.mfa_serial
        return params

    def cache_fields(self) -> Mapping[str, Any]:
        return self.request(duration=None)

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        params = self.request(duration=duration)
        if self.mfa_serial is not None:
            params["TokenCode"] = next_code(self.mfa_serial, self.mfa_token, label=self.label)
        creds = send(self, client, params)
        note_root_cap(self, creds, duration)
        return creds

    def with_duration(self, duration: DurationLike | None) -> GetSessionToken:
        return GetSessionToken(
            duration=duration, mfa_serial=self.mfa_serial, mfa_token=self.mfa_token
        )
