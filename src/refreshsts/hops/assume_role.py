"""AssumeRole: the hop that turns one principal's credentials into a role session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from botocore.exceptions import ClientError

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _validate as check
from ._base import Duration, Hop, default_session_name, init_duration
from ._call import send
from ._mfa import MfaToken, next_code

__all__ = ["AssumeRole"]

TagsLike = Union[Mapping[str, str], Iterable[tuple[str, str]], None]

ROLE_MAX = 43200
CHAINED_MAX = 3600
_LONGER_NOTE = "only session tokens (GetSessionToken, GetFederationToken) may last longer than 12h"
_CHAINED_NOTE = (
    "this hop is role chaining (its caller is the role before it) and AWS caps chained "
    "role sessions at 1h"
)


@dataclass(frozen=True, eq=True)
class AssumeRole(Hop):
    """Assume `role_arn` with the credentials before this hop (sts:AssumeRole).

    Without `session_name`, each call names the session after this host and process, so
    CloudTrail shows which machine acted. `duration` overrides the session-wide default.
    With `mfa_serial`, `mfa_token` is called for the device's current code each time STS is
    called (never for cached credentials); without `mfa_token`, it is asked on the terminal.
    """

    role_arn: str
    session_name: str | None = None
    external_id: str | None = field(default=None, repr=False)
    duration: Duration = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_serial: str | None = None
    mfa_token: MfaToken | None = field(default=None, repr=False, compare=False)

    operation: ClassVar[str] = "AssumeRole"
    returns_role_session: ClassVar[bool] = True
    response_arn_key: ClassVar[str | None] = "AssumedRoleUser"

    def __init__(
        self,
        role_arn: str,
        *,
        session_name: str | None = None,
        external_id: str | None = None,
        duration: DurationLike | None = None,
        policy: str | Mapping[str, Any] | None = None,
        policy_arns: Iterable[str] = (),
        tags: TagsLike = None,
        transitive_tag_keys: Iterable[str] = (),
        source_identity: str | None = None,
        mfa_serial: str | None = None,
        mfa_token: MfaToken | None = None,
    ) -> None:
        where = f"AssumeRole({role_arn!r})" if isinstance(role_arn, str) else "AssumeRole"
        put = object.__setattr__
        put(self, "role_arn", check.role_arn(where, role_arn))
        put(
            self,
            "session_name",
            None
            if session_name is None
            else check.name_like(where, session_name, name="session_name"),
        )
        put(
            self,
            "external_id",
            None if external_id is None else check.external_id(where, external_id),
        )
        put(self, "duration", None)
        init_duration(self, where, duration)
        put(self, "policy", None if policy is None else check.policy(where, policy))
        put(self, "policy_arns", check.policy_arns(where, policy_arns))
        pairs = check.tags(where, dict(tags) if tags is not None else None)
        put(self, "tags", pairs)
        put(
            self,
            "transitive_tag_keys",
            check.transitive_tag_keys(where, transitive_tag_keys, pairs),
        )
        put(
            self,
            "source_identity",
            None if source_identity is None else check.source_identity(where, source_identity),
        )
        serial, token = check.mfa(where, mfa_serial, mfa_token)
        put(self, "mfa_serial", serial)
        put(self, "mfa_token", token)

    def limits(self, *, chained: bool) -> DurationLimits:
        if chained:
            return DurationLimits(900, CHAINED_MAX, 3600, _CHAINED_NOTE)
        return DurationLimits(900, ROLE_MAX, 3600, _LONGER_NOTE)

    @property
    def label(self) -> str:
        name = self.session_name or "<host-pid>"
        return f"AssumeRole {self.role_arn} as {name}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": self.session_name or default_session_name(),
        }
        if duration is not None:
            params["DurationSeconds"] = duration
        if self.external_id is not None:
            params["ExternalId"] = self.external_id
        if self.policy is not None:
            params["Policy"] = self.policy
        if self.policy_arns:
            params["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        if self.tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        if self.transitive_tag_keys:
            params["TransitiveTagKeys"] = list(self.transitive_tag_keys)
        if self.source_identity is not None:
            params["SourceIdentity"] = self.source_identity
        if self.mfa_serial is not None:
            params["SerialNumber"] = self.mfa_serial
        return params

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """Call STS; with `mfa_serial`, the device's code is asked for now and only now."""
        params = self.request(duration=duration)
        if self.mfa_serial is not None:
            params["TokenCode"] = next_code(self.mfa_serial, self.mfa_token, label=self.label)
        return send(self, client, params)

    def cache_fields(self) -> Mapping[str, Any]:
        fields = self.request(duration=None)
        fields["RoleSessionName"] = self.session_name
        return fields

    def step_down(self, error: ClientError, requested: int, *, chained: bool) -> int | None:
        err = error.response.get("Error", {})
        message = str(err.get("Message", ""))
        if err.get("Code") != "ValidationError" or requested <= 3600:
            return None
        if "MaxSessionDuration" in message or "chaining" in message:
            return 3600
        return None

    def with_session_name(self, session_name: str | None) -> AssumeRole:
        """A copy of this hop with another RoleSessionName."""
        return self._copy(session_name=session_name)

    def with_external_id(self, external_id: str | None) -> AssumeRole:
        """A copy of this hop with another ExternalId."""
        return self._copy(external_id=external_id)

    def _copy(self, **changes: Any) -> AssumeRole:
        fields: dict[str, Any] = {
            "session_name": self.session_name,
            "external_id": self.external_id,
            "duration": self.duration,
            "policy": self.policy,
            "policy_arns": self.policy_arns,
            "tags": self.tags,
            "transitive_tag_keys": self.transitive_tag_keys,
            "source_identity": self.source_identity,
            "mfa_serial": self.mfa_serial,
            "mfa_token": self.mfa_token,
        }
        fields.update(changes)
        return AssumeRole(self.role_arn, **fields)

    def with_duration(self, duration: DurationLike | None) -> AssumeRole:
        return self._copy(duration=duration)
