"""GetFederationToken: a federated user session for an IAM user's own app or broker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _validate as check
from ._base import Duration, Hop, sts_params
from ._session_policy import PolicyLike, SessionPolicy, TagsLike, tag_params
from ._session_tokens import SESSION_TOKEN_MAX, note_root_cap

__all__ = ["GetFederationToken"]

_NOTE = "36h is the longest any STS credential lasts (1h when the caller is the account root user)"


@dataclass(frozen=True, eq=True)
class GetFederationToken(SessionPolicy, Hop):
    r"""Credentials for federated user `name`, on behalf of the IAM user in the source.

    The session's permissions are the intersection of the IAM user's and the session
    policies passed here (`policy`, `policy_arns`): with neither, it may do nothing. STS
    answers this only for IAM user (or root) keys, so it is the first hop, and its
    credentials may call no STS operation but GetCallerIdentity, so it is also the last.

    Args:
        name: The federated user's name, 2 to 32 of ``\w+=,.@-``.
        policy: A session policy (JSON text or a dict); the session may do what both it and
            the IAM user may.
        policy_arns: ARNs of managed policies for the session, at most 10.
        tags: Session tags, a mapping or (key, value) pairs, at most 50.
        duration: How long the session lasts (15 min to 36 h; 1 h for the root user), or
            ``"max"``; by default the session's duration, else STS's default of 12 h.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096,
            for callers storing the token in a fixed-size field.

    Raises:
        ConfigurationError: A parameter is malformed or out of range.
    """

    name: str
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    duration: Duration = None
    minimum_session_token_size: int | None = None

    operation: ClassVar[str] = "GetFederationToken"
    may_follow_role: ClassVar[bool] = False
    response_arn_key: ClassVar[str | None] = "FederatedUser"
    ends_chain: ClassVar[bool] = True
    """Its credentials may call no STS operation but GetCallerIdentity."""

    def __init__(
        self,
        name: str,
        *,
        policy: PolicyLike = None,
        policy_arns: Iterable[str] = (),
        tags: TagsLike = None,
        duration: DurationLike | None = None,
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where(name)
        self._set(
            name=check.name_like(where, name, name="name", high=32),
            policy=check.policy(where, policy),
            policy_arns=check.policy_arns(where, policy_arns),
            tags=check.tags(where, tags),
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
        )
        self._init_duration(where, duration)

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(900, SESSION_TOKEN_MAX, 43200, _NOTE)

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        return f"GetFederationToken as {self.name}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        return sts_params(
            Name=self.name,
            DurationSeconds=duration,
            **self._policy_params(),
            Tags=tag_params(self.tags),
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        creds = super().call(client, duration=duration)
        note_root_cap(self, creds, duration)
        return creds
