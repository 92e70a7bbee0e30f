"""AssumeRoleWithSAML: a role session for a SAML assertion from an enterprise identity provider."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..durations import DurationLike
from . import _tokens
from . import _validate as check
from ._base import Duration, sts_params
from ._role_session import FederatedRoleHop
from ._session_policy import PolicyLike

__all__ = ["AssumeRoleWithSAML"]

ASSERTION_CHARS = (4, 100000)


@dataclass(frozen=True, eq=True)
class AssumeRoleWithSAML(FederatedRoleHop):
    """Assume `role_arn` with a SAML assertion from `principal_arn` (sts:AssumeRoleWithSAML).

    `assertion` is a callable returning the base64-encoded SAMLResponse your identity provider
    posts (called on every refresh, since assertions expire within minutes), or that text
    itself (which then never enters a pickle: the hop refuses to pickle). The request is
    unsigned, so this hop needs no source credentials and must be the first hop. The session
    name comes from the assertion's RoleSessionName attribute.

    Args:
        role_arn: The role to assume, ``arn:PARTITION:iam::ACCOUNT:role/NAME``.
        principal_arn: The IAM SAML provider, ``arn:PARTITION:iam::ACCOUNT:saml-provider/NAME``.
        assertion: A callable returning the base64 SAMLResponse, or that text itself.
        duration: How long the session lasts (15 min to 12 h), or ``"max"``; by default
            the session's duration, else STS's default of 1 h.
        policy: A session policy (JSON text or a dict) narrowing what the session may do.
        policy_arns: ARNs of managed policies narrowing the session, at most 10.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096,
            for callers storing the token in a fixed-size field.

    Raises:
        ConfigurationError: A parameter is malformed or out of range.
    """

    role_arn: str
    principal_arn: str
    assertion: _tokens.TokenLike = field(repr=False)
    duration: Duration = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    minimum_session_token_size: int | None = None

    operation: ClassVar[str] = "AssumeRoleWithSAML"
    token_parameter: ClassVar[str] = "SAMLAssertion"  # noqa: S105 - a parameter name
    proof_kind: ClassVar[str] = "saml"
    picklable_instead: ClassVar[str] = (
        "pass assertion= a callable returning the assertion (itself picklable, such as a "
        "module-level function)"
    )

    def __init__(
        self,
        role_arn: str,
        principal_arn: str,
        *,
        assertion: _tokens.TokenLike,
        duration: DurationLike | None = None,
        policy: PolicyLike = None,
        policy_arns: Iterable[str] = (),
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where(role_arn)
        self._set(
            role_arn=check.role_arn(where, role_arn),
            principal_arn=check.saml_provider_arn(where, principal_arn),
            assertion=_tokens.check_token(
                where, assertion, name="assertion", chars=ASSERTION_CHARS
            ),
        )
        self._init_duration(where, duration)
        self._set(
            policy=check.policy(where, policy),
            policy_arns=check.policy_arns(where, policy_arns),
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
            _token=_tokens.Reader(
                where, file=None, value=self.assertion, name="assertion", chars=ASSERTION_CHARS
            ),
        )

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        return f"AssumeRoleWithSAML {self.role_arn} via {self.principal_arn}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the assertion, which is fetched only when STS is called."""
        return sts_params(
            RoleArn=self.role_arn,
            PrincipalArn=self.principal_arn,
            DurationSeconds=duration,
            **self._policy_params(),
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def read_assertion(self) -> str:
        """The assertion now: the callable asked, or the fixed text."""
        return self._token.read()
