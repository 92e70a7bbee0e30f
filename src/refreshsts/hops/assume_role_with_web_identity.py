"""AssumeRoleWithWebIdentity: a role session for an OIDC token (EKS, GitHub Actions, Google)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..durations import DurationLike
from . import _tokens
from . import _validate as check
from ._base import Duration, default_session_name, sts_params
from ._role_session import FederatedRoleHop
from ._session_policy import PolicyLike

__all__ = ["AssumeRoleWithWebIdentity"]

TOKEN_CHARS = (4, 20000)


@dataclass(frozen=True, eq=True)
class AssumeRoleWithWebIdentity(FederatedRoleHop):
    r"""Assume `role_arn` with a web identity token (sts:AssumeRoleWithWebIdentity).

    The request is unsigned: the token is the proof, so this hop needs no source credentials
    and must be the first hop. Pass exactly one of `token_file` (read afresh on every refresh,
    as EKS and GitHub Actions rotate it) or `token` (a callable returning the token, or the
    token itself). The token never enters a log, a repr, a pickle or a cache key; the cache
    key holds a digest of the whole token instead (so a forged token naming the same subject
    never finds a cached entry), and a hop given the token itself refuses to pickle.

    Args:
        role_arn: The role to assume, ``arn:PARTITION:iam::ACCOUNT:role/NAME``.
        token_file: Path of a file holding the token (an OIDC JWT).
        token: A callable returning the token, or the token itself.
        session_name: RoleSessionName CloudTrail records, 2 to 64 of ``\w+=,.@-``; by
            default ``refreshsts-USER@HOST``.
        duration: How long the session lasts (15 min to 12 h), or ``"max"``; by default
            the session's duration, else STS's default of 1 h.
        policy: A session policy (JSON text or a dict) narrowing what the session may do.
        policy_arns: ARNs of managed policies narrowing the session, at most 10.
        provider_id: The OAuth 2.0 provider's domain (``www.amazon.com`` or
            ``graph.facebook.com``), for OAuth 2.0 access tokens only; omit it for OIDC.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096,
            for callers storing the token in a fixed-size field.

    Raises:
        ConfigurationError: A parameter is malformed, or both or neither of `token_file`
            and `token` are given.
    """

    role_arn: str
    token_file: str | None = None
    token: _tokens.TokenLike | None = field(default=None, repr=False)
    session_name: str | None = None
    duration: Duration = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    provider_id: str | None = None
    minimum_session_token_size: int | None = None

    operation: ClassVar[str] = "AssumeRoleWithWebIdentity"
    token_parameter: ClassVar[str] = "WebIdentityToken"  # noqa: S105 - a parameter name
    proof_kind: ClassVar[str] = "jwt"
    picklable_instead: ClassVar[str] = (
        "pass token_file= (a path, read afresh on every refresh) or token= a callable "
        "returning the token (itself picklable, such as a module-level function)"
    )

    def __init__(
        self,
        role_arn: str,
        *,
        token_file: str | os.PathLike[str] | None = None,
        token: _tokens.TokenLike | None = None,
        session_name: str | None = None,
        duration: DurationLike | None = None,
        policy: PolicyLike = None,
        policy_arns: Iterable[str] = (),
        provider_id: str | None = None,
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where(role_arn)
        self._set(role_arn=check.role_arn(where, role_arn))
        path, value = _tokens.check_source(
            where,
            file=token_file,
            value=token,
            file_name="token_file",
            value_name="token",
            chars=TOKEN_CHARS,
        )
        self._set(
            token_file=path,
            token=value,
            session_name=check.session_name(where, session_name),
        )
        self._init_duration(where, duration)
        self._set(
            policy=check.policy(where, policy),
            policy_arns=check.policy_arns(where, policy_arns),
            provider_id=check.provider_id(where, provider_id),
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
            _token=_tokens.Reader(where, file=path, value=value, name="token", chars=TOKEN_CHARS),
        )

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        name = self.session_name or default_session_name()
        return f"AssumeRoleWithWebIdentity {self.role_arn} as {name} with {self._token.describe()}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the token, which is read only when STS is called."""
        return sts_params(
            RoleArn=self.role_arn,
            RoleSessionName=self.session_name or default_session_name(),
            DurationSeconds=duration,
            **self._policy_params(),
            ProviderId=self.provider_id,
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def read_token(self) -> str:
        """The token now: the file read afresh, or the callable asked."""
        return self._token.read()

    def cache_fields(self) -> Mapping[str, Any]:
        # The default name differs per process; keying on it would split a shared cache.
        return {**super().cache_fields(), "RoleSessionName": self.session_name}
