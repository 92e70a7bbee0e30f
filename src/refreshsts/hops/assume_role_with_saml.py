"""AssumeRoleWithSAML: a role session for a SAML assertion from an enterprise identity provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from ..errors import ConfigurationError
from . import _tokens
from . import _validate as check
from ._base import Duration, Hop, init_duration
from ._call import send
from ._role_limits import FEDERATED_ROLE_LIMITS, step_down_to_an_hour

__all__ = ["AssumeRoleWithSAML"]

ASSERTION_CHARS = (4, 100000)


@dataclass(frozen=True, eq=True)
class AssumeRoleWithSAML(Hop):
    """Assume `role_arn` with a SAML assertion from `principal_arn` (sts:AssumeRoleWithSAML).

    `assertion` is a callable returning the base64-encoded SAMLResponse your identity provider
    posts (called on every refresh, since assertions expire within minutes), or that text
    itself. The request is unsigned, so this hop needs no source credentials and must be the
    first hop. The session name comes from the assertion's RoleSessionName attribute.
    """

    role_arn: str
    principal_arn: str
    assertion: _tokens.TokenLike = field(repr=False)
    duration: Duration = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()

    operation: ClassVar[str] = "AssumeRoleWithSAML"
    returns_role_session: ClassVar[bool] = True
    response_arn_key: ClassVar[str | None] = "AssumedRoleUser"
    unsigned: ClassVar[bool] = True
    """Sent without a signature: the STS client needs no credentials."""

    def __init__(
        self,
        role_arn: str,
        principal_arn: str,
        *,
        assertion: _tokens.TokenLike,
        duration: DurationLike | None = None,
        policy: str | Mapping[str, Any] | None = None,
        policy_arns: Iterable[str] = (),
    ) -> None:
        where = self._where(role_arn)
        put = object.__setattr__
        put(self, "role_arn", check.role_arn(where, role_arn))
        put(self, "principal_arn", check.saml_provider_arn(where, principal_arn))
        _, value = _tokens.check_source(
            where, file=None, value=assertion, file_name="", value_name="assertion"
        )
        if isinstance(value, str):
            value = _tokens.check_text(
                where, value, name="assertion", low=4, high=100000, error=ConfigurationError
            )
        put(self, "assertion", value)
        put(self, "duration", None)
        init_duration(self, where, duration)
        put(self, "policy", None if policy is None else check.policy(where, policy))
        put(self, "policy_arns", check.policy_arns(where, policy_arns))
        put(self, "_held", _tokens.Held())

    @staticmethod
    def _where(role_arn: object) -> str:
        name = "AssumeRoleWithSAML"
        return f"{name}({role_arn!r})" if isinstance(role_arn, str) else name

    def limits(self, *, chained: bool) -> DurationLimits:
        return FEDERATED_ROLE_LIMITS

    @property
    def label(self) -> str:
        return f"AssumeRoleWithSAML {self.role_arn} via {self.principal_arn}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the assertion, which is fetched only when STS is called."""
        params: dict[str, Any] = {"RoleArn": self.role_arn, "PrincipalArn": self.principal_arn}
        if duration is not None:
            params["DurationSeconds"] = duration
        if self.policy is not None:
            params["Policy"] = self.policy
        if self.policy_arns:
            params["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        return params

    def read_assertion(self) -> str:
        """The assertion now: the callable asked, or the fixed text."""
        low, high = ASSERTION_CHARS
        return _tokens.read(
            self._where(self.role_arn),
            file=None,
            value=self.assertion,
            name="assertion",
            low=low,
            high=high,
        )

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        params = self.request(duration=duration)
        held: _tokens.Held = self.__dict__["_held"]
        params["SAMLAssertion"] = held.take() or self.read_assertion()
        return send(self, client, params)

    def cache_fields(self) -> Mapping[str, Any]:
        assertion = self.read_assertion()
        self.__dict__["_held"].keep(assertion)
        return {**self.request(duration=None), "Subject": _tokens.saml_subject(assertion)}

    def step_down(self, error: ClientError, requested: int, *, chained: bool) -> int | None:
        return step_down_to_an_hour(error, requested)

    def with_duration(self, duration: DurationLike | None) -> AssumeRoleWithSAML:
        return AssumeRoleWithSAML(
            self.role_arn,
            self.principal_arn,
            assertion=self.assertion,
            duration=duration,
            policy=self.policy,
            policy_arns=self.policy_arns,
        )
