"""GetSessionToken: temporary credentials for an IAM user itself, the one hop that lasts 36 h."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _validate as check
from ._base import Duration, Hop, sts_params
from ._mfa import MfaToken, send_with_code
from ._session_tokens import SESSION_TOKEN_MAX, note_root_cap

__all__ = ["GetSessionToken"]


@dataclass(frozen=True, eq=True)
class GetSessionToken(Hop):
    """Session credentials for the IAM user in the source (sts:GetSessionToken).

    STS refuses this call from a role session, so it can only be the first hop. An AssumeRole
    signed by its credentials is role chaining for STS, capped at 1 h: for a longer MFA role
    session, send the code on the AssumeRole itself (`AssumeRole(mfa_serial=...)`). With
    `mfa_serial`, `mfa_token` is called for the device's current code each time STS is
    called (never for cached credentials); without `mfa_token`, the code is asked for on the
    terminal. The account root user's session tokens last at most 1 h, whatever is asked.

    Args:
        duration: How long the session lasts (15 min to 36 h; 1 h for the root user), or
            ``"max"``; by default the session's duration, else STS's default of 12 h.
        mfa_serial: The MFA device's serial number or ARN, for an MFA-authenticated session.
        mfa_token: Called for the device's current code; without it, the code is asked
            for on the terminal.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096,
            for callers storing the token in a fixed-size field.

    Raises:
        ConfigurationError: A parameter is malformed or out of range.
    """

    duration: Duration = None
    mfa_serial: str | None = None
    mfa_token: MfaToken | None = field(default=None, repr=False, compare=False)
    minimum_session_token_size: int | None = None

    operation: ClassVar[str] = "GetSessionToken"
    may_follow_role: ClassVar[bool] = False
    chains_assume_role: ClassVar[bool] = True
    chaining_note: ClassVar[str] = (
        "STS counts an AssumeRole signed by GetSessionToken credentials as role chaining; for "
        "an MFA role session over 1h, drop GetSessionToken and give this AssumeRole "
        "mfa_serial= with the IAM user's keys as source"
    )

    def __init__(
        self,
        *,
        duration: DurationLike | None = None,
        mfa_serial: str | None = None,
        mfa_token: MfaToken | None = None,
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where()
        serial, token = check.mfa(where, mfa_serial, mfa_token)
        self._set(
            mfa_serial=serial,
            mfa_token=token,
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
        )
        self._init_duration(where, duration)

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(900, SESSION_TOKEN_MAX, 43200)

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        if self.mfa_serial is None:
            return "GetSessionToken"
        return f"GetSessionToken with MFA {self.mfa_serial}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the MFA code, which is asked for only when STS is called."""
        return sts_params(
            DurationSeconds=duration,
            SerialNumber=self.mfa_serial,
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        params = self.request(duration=duration)
        send = functools.partial(self._send, client)
        if self.mfa_serial is None:
            creds = send(params)
        else:
            creds = send_with_code(send, params, self.mfa_serial, self.mfa_token, label=self.label)
        note_root_cap(self, creds, duration)
        return creds
