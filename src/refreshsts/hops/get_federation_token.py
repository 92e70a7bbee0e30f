"""GetFederationToken: a federated user session for an IAM user's own app or broker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _validate as check
from ._base import Duration, Hop, init_duration
from ._call import note_root_cap

__all__ = ["GetFederationToken"]

TagsLike = Union[Mapping[str, str], Iterable[tuple[str, str]], None]

FEDERATION_MAX = 129600
_NOTE = "36h is the longest any STS credential lasts (1h when the caller is the account root user)"


@dataclass(frozen=True, eq=True)
class GetFederationToken(Hop):
    """Credentials for federated user `name`, on behalf of the IAM user in the source.

    The session's permissions are the intersection of the IAM user's and the session
    policies passed here (`policy`, `policy_arns`): with neither, it may do nothing. STS
    answers this only for IAM user (or root) keys, so it is the first hop, and its
    credentials may call no STS operation but GetCallerIdentity, so it is also the last.
    """

    name: str
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    duration: Duration = None

    operation: ClassVar[str] = "GetFederationToken"
    may_follow_role: ClassVar[bool] = False
    response_arn_key: ClassVar[str | None] = "FederatedUser"
    ends_chain: ClassVar[bool] = True
    """Its credentials may call no STS operation but GetCallerIdentity."""

    def __init__(
        self,
        name: str,
        *,
        policy: str | Mapping[str, Any] | None = None,
        policy_arns: Iterable[str] = (),
        tags: TagsLike = None,
        duration: DurationLike | None = None,
    ) -> None:
        where = f"GetFederationToken({name!r})" if isinstance(name, str) else "GetFederationToken"
        put = object.__setattr__
        put(self, "name", check.name_like(where, name, name="name", high=32))
        put(self, "policy", None if policy is None else check.policy(where, policy))
        put(self, "policy_arns", check.policy_arns(where, policy_arns))
        put(self, "tags", check.tags(where, dict(tags) if tags is not None else None))
        put(self, "duration", None)
        init_duration(self, where, duration)

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(900, FEDERATION_MAX, 43200, _NOTE)

    @property
    def label(self) -> str:
        return f"GetFederationToken as {self.name}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"Name": self.name}
        if duration is not None:
            params["DurationSeconds"] = duration
        if self.policy is not None:
            params["Policy"] = self.policy
        if self.policy_arns:
            params["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        if self.tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        return params

    def cache_fields(self) -> Mapping[str, Any]:
        return self.request(duration=None)

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        creds = super().call(client, duration=duration)
        note_root_cap(self, creds, duration)
        return creds

    def with_duration(self, duration: DurationLike | None) -> GetFederationToken:
        return GetFederationToken(
            self.name,
            policy=self.policy,
            policy_arns=self.policy_arns,
            tags=self.tags,
            duration=duration,
        )
