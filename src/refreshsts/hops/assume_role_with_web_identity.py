"""AssumeRoleWithWebIdentity: a role session for an OIDC token (EKS, GitHub Actions, Google)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from ..errors import ConfigurationError
from . import _tokens
from . import _validate as check
from ._base import Duration, Hop, default_session_name, init_duration
from ._call import send
from ._role_limits import FEDERATED_ROLE_LIMITS, step_down_to_an_hour

__all__ = ["AssumeRoleWithWebIdentity"]

TOKEN_CHARS = (4, 20000)


@dataclass(frozen=True, eq=True)
class AssumeRoleWithWebIdentity(Hop):
    """Assume `role_arn` with a web identity token (sts:AssumeRoleWithWebIdentity).

    The request is unsigned: the token is the proof, so this hop needs no source credentials
    and must be the first hop. Pass exactly one of `token_file` (read afresh on every refresh,
    as EKS and GitHub Actions rotate it) or `token` (a callable returning the token, or the
    token itself). The token never enters a log, a repr or a cache key; the cache key holds
    a digest of the token's issuer, subject and audience instead.
    """

    role_arn: str
    token_file: str | None = None
    token: _tokens.TokenLike | None = field(default=None, repr=False)
    session_name: str | None = None
    duration: Duration = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    provider_id: str | None = None

    operation: ClassVar[str] = "AssumeRoleWithWebIdentity"
    returns_role_session: ClassVar[bool] = True
    response_arn_key: ClassVar[str | None] = "AssumedRoleUser"
    unsigned: ClassVar[bool] = True
    """Sent without a signature: the STS client needs no credentials."""

    def __init__(
        self,
        role_arn: str,
        *,
        token_file: str | os.PathLike[str] | None = None,
        token: _tokens.TokenLike | None = None,
        session_name: str | None = None,
        duration: DurationLike | None = None,
        policy: str | Mapping[str, Any] | None = None,
        policy_arns: Iterable[str] = (),
        provider_id: str | None = None,
    ) -> None:
        where = self._where(role_arn)
        put = object.__setattr__
        put(self, "role_arn", check.role_arn(where, role_arn))
        path, value = _tokens.check_source(
            where, file=token_file, value=token, file_name="token_file", value_name="token"
        )
        if isinstance(value, str):
            value = _tokens.check_text(
                where, value, name="token", low=4, high=20000, error=ConfigurationError
            )
        put(self, "token_file", path)
        put(self, "token", value)
        put(
            self,
            "session_name",
            None
            if session_name is None
            else check.name_like(where, session_name, name="session_name"),
        )
        put(self, "duration", None)
        init_duration(self, where, duration)
        put(self, "policy", None if policy is None else check.policy(where, policy))
        put(self, "policy_arns", check.policy_arns(where, policy_arns))
        put(
            self,
            "provider_id",
            None if provider_id is None else check.provider_id(where, provider_id),
        )
        put(self, "_held", _tokens.Held())

    @staticmethod
    def _where(role_arn: object) -> str:
        name = "AssumeRoleWithWebIdentity"
        return f"{name}({role_arn!r})" if isinstance(role_arn, str) else name

    def limits(self, *, chained: bool) -> DurationLimits:
        return FEDERATED_ROLE_LIMITS

    @property
    def label(self) -> str:
        name = self.session_name or "<host-pid>"
        source = _tokens.describe(self.token_file, self.token, "token")
        return f"AssumeRoleWithWebIdentity {self.role_arn} as {name} with {source}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the token, which is read only when STS is called."""
        params: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": self.session_name or default_session_name(),
        }
        if duration is not None:
            params["DurationSeconds"] = duration
        if self.policy is not None:
            params["Policy"] = self.policy
        if self.policy_arns:
            params["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        if self.provider_id is not None:
            params["ProviderId"] = self.provider_id
        return params

    def read_token(self) -> str:
        """The token now: the file read afresh, or the callable asked."""
        low, high = TOKEN_CHARS
        return _tokens.read(
            self._where(self.role_arn),
            file=self.token_file,
            value=self.token,
            name="token",
            low=low,
            high=high,
        )

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        params = self.request(duration=duration)
        held: _tokens.Held = self.__dict__["_held"]
        params["WebIdentityToken"] = held.take() or self.read_token()
        return send(self, client, params)

    def cache_fields(self) -> Mapping[str, Any]:
        token = self.read_token()
        self.__dict__["_held"].keep(token)
        fields = self.request(duration=None)
        fields["RoleSessionName"] = self.session_name
        fields["Subject"] = _tokens.jwt_subject(token)
        return fields

    def step_down(self, error: ClientError, requested: int, *, chained: bool) -> int | None:
        return step_down_to_an_hour(error, requested)

    def with_duration(self, duration: DurationLike | None) -> AssumeRoleWithWebIdentity:
        return AssumeRoleWithWebIdentity(
            self.role_arn,
            token_file=self.token_file,
            token=self.token,
            session_name=self.session_name,
            duration=duration,
            policy=self.policy,
            policy_arns=self.policy_arns,
            provider_id=self.provider_id,
        )
