"""AssumeRole: the hop that turns one principal's credentials into a role session."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, SupportsIndex

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _tokens
from . import _validate as check
from ._base import Duration, default_session_name, sts_params
from ._mfa import MfaToken, send_with_code
from ._role_session import CHAINED_MAX, ROLE_SESSION_MAX, RoleSessionHop
from ._session_policy import PolicyLike, TagsLike, tag_params

__all__ = ["AssumeRole"]

_LONGER_NOTE = "only session tokens (GetSessionToken, GetFederationToken) may last longer than 12h"
ASSERTION_CHARS = (4, 3072)
"""ContextAssertion's length in botocore's STS model (the API reference still says 2048)."""
ContextsLike = Iterable[tuple[str, _tokens.TokenLike]]
"""(provider ARN, assertion) pairs; each assertion is text or a callable returning it."""
_CHAINED_NOTE = (
    "this hop is role chaining (its caller is a role session or a GetSessionToken session) "
    "and AWS caps chained role sessions at 1h"
)


@dataclass(frozen=True, eq=True)
class AssumeRole(RoleSessionHop):
    r"""Assume `role_arn` with the credentials before this hop (sts:AssumeRole).

    Without `session_name`, the session is named ``refreshsts-USER@HOST`` after this user
    and host, so CloudTrail shows who acted and where. `duration` overrides the session-wide
    default. With `mfa_serial`, `mfa_token` is called for the device's current code each time
    STS is called (never for cached credentials, and not again for the shorter retry of
    `duration="max"`); without `mfa_token`, it is asked on the terminal. Signed by an IAM
    user's own keys, such an MFA role session may last up to 12 h, where one after an MFA
    GetSessionToken is role chaining, capped at 1 h.

    Args:
        role_arn: The role to assume, ``arn:PARTITION:iam::ACCOUNT:role/NAME``.
        session_name: RoleSessionName CloudTrail records, 2 to 64 of ``\w+=,.@-``; by
            default ``refreshsts-USER@HOST``.
        external_id: The ExternalId the role's trust policy asks for, 2 to 1224 characters.
        duration: How long the session lasts (15 min to 12 h, 1 h when chained), or
            ``"max"``; by default the session's duration, else STS's default of 1 h.
        policy: A session policy (JSON text or a dict) narrowing what the session may do.
        policy_arns: ARNs of managed policies narrowing the session, at most 10.
        tags: Session tags, a mapping or (key, value) pairs, at most 50.
        transitive_tag_keys: Keys of `tags` that pass on to later role chaining.
        source_identity: SourceIdentity to set, 2 to 64 of ``\w+=,.@-``.
        mfa_serial: The MFA device's serial number or ARN, when the role requires MFA.
        mfa_token: Called for the device's current code; without it, the code is asked
            for on the terminal.
        provided_contexts: Trusted identity propagation: 1 to 5 (provider ARN, assertion)
            pairs, each ARN naming a context provider such as IAM Identity Center; each
            assertion is text or a callable returning it, asked for on every refresh.
            Assertions are secrets: they never enter a repr, a log or a pickle, and cache
            keys hold only a digest of them.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096.

    Raises:
        ConfigurationError: A parameter is malformed or out of range (before any STS call).
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
    provided_contexts: tuple[tuple[str, _tokens.TokenLike], ...] = field(default=(), repr=False)
    minimum_session_token_size: int | None = None
    _contexts: tuple[_tokens.Reader, ...] = field(default=(), init=False, repr=False, compare=False)

    operation: ClassVar[str] = "AssumeRole"

    def __init__(
        self,
        role_arn: str,
        *,
        session_name: str | None = None,
        external_id: str | None = None,
        duration: DurationLike | None = None,
        policy: PolicyLike = None,
        policy_arns: Iterable[str] = (),
        tags: TagsLike = None,
        transitive_tag_keys: Iterable[str] = (),
        source_identity: str | None = None,
        mfa_serial: str | None = None,
        mfa_token: MfaToken | None = None,
        provided_contexts: ContextsLike = (),
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where(role_arn)
        self._set(
            role_arn=check.role_arn(where, role_arn),
            session_name=check.session_name(where, session_name),
            external_id=check.external_id(where, external_id),
        )
        self._init_duration(where, duration)
        self._set(
            policy=check.policy(where, policy),
            policy_arns=check.policy_arns(where, policy_arns),
            tags=check.tags(where, tags),
        )
        serial, token = check.mfa(where, mfa_serial, mfa_token)
        self._set(
            transitive_tag_keys=check.transitive_tag_keys(where, transitive_tag_keys, self.tags),
            source_identity=check.source_identity(where, source_identity),
            mfa_serial=serial,
            mfa_token=token,
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
        )
        self._init_contexts(where, provided_contexts)

    def _init_contexts(self, where: str, values: ContextsLike) -> None:
        pairs = check.provided_contexts(where, values)
        readers = []
        for number, (_, assertion) in enumerate(pairs, 1):
            name = f"provided_contexts[{number}] assertion"
            value = _tokens.check_token(where, assertion, name=name, chars=ASSERTION_CHARS)
            readers.append(
                _tokens.Reader(where, file=None, value=value, name=name, chars=ASSERTION_CHARS)
            )
        self._set(provided_contexts=pairs, _contexts=tuple(readers))

    def limits(self, *, chained: bool) -> DurationLimits:
        if chained:
            return DurationLimits(900, CHAINED_MAX, 3600, _CHAINED_NOTE)
        return DurationLimits(900, ROLE_SESSION_MAX, 3600, _LONGER_NOTE)

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        return f"AssumeRole {self.role_arn} as {self.session_name or default_session_name()}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The request without the MFA code, which is asked for only when STS is called."""
        return sts_params(
            RoleArn=self.role_arn,
            RoleSessionName=self.session_name or default_session_name(),
            DurationSeconds=duration,
            ExternalId=self.external_id,
            **self._policy_params(),
            Tags=tag_params(self.tags),
            TransitiveTagKeys=list(self.transitive_tag_keys),
            SourceIdentity=self.source_identity,
            SerialNumber=self.mfa_serial,
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """Call STS; with `mfa_serial`, the device's code is asked for now and only now."""
        params = self.request(duration=duration)
        if self._contexts:
            params["ProvidedContexts"] = [
                {"ProviderArn": arn, "ContextAssertion": reader.read_for_call()}
                for (arn, _), reader in zip(self.provided_contexts, self._contexts, strict=True)
            ]
        if self.mfa_serial is None:
            return self._send(client, params)
        send = functools.partial(self._send, client)
        return send_with_code(send, params, self.mfa_serial, self.mfa_token, label=self.label)

    def cache_fields(self) -> Mapping[str, Any]:
        # The default name differs per process; keying on it would split a shared cache.
        fields = {**super().cache_fields(), "RoleSessionName": self.session_name}
        if self._contexts:
            fields["ProvidedContexts"] = [
                [arn, _tokens.token_digest("context", reader.read_for_key())]
                for (arn, _), reader in zip(self.provided_contexts, self._contexts, strict=True)
            ]
        return fields

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        if any(reader.fixed for reader in self._contexts):
            raise TypeError(
                f"{self._where(self.role_arn)}: a hop holding a provided_contexts assertion as "
                "fixed text is not picklable, since the pickle would carry the assertion: pass "
                "a callable returning it (itself picklable, such as a module-level function)"
            )
        return super().__reduce_ex__(protocol)

    def __copy__(self) -> AssumeRole:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AssumeRole:
        """A copy holding no assertion read for this one, whether or not it pickles."""
        return dataclasses.replace(self)

    def with_session_name(self, session_name: str | None) -> AssumeRole:
        """A copy of this hop with another RoleSessionName.

        Args:
            session_name: The new name, or None for ``refreshsts-USER@HOST``.

        Returns:
            A new AssumeRole; this one is unchanged.

        Raises:
            ConfigurationError: `session_name` is malformed.
        """
        return dataclasses.replace(self, session_name=session_name)

    def with_external_id(self, external_id: str | None) -> AssumeRole:
        """A copy of this hop with another ExternalId.

        Args:
            external_id: The new ExternalId, or None to send none.

        Returns:
            A new AssumeRole; this one is unchanged.

        Raises:
            ConfigurationError: `external_id` is malformed.
        """
        return dataclasses.replace(self, external_id=external_id)
