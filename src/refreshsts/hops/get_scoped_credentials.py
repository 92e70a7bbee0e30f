"""GetScopedCredentials: the caller's own session, with fewer permissions or a shorter life."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..durations import MAX, DurationLike, DurationLimits, format_duration
from ..errors import ConfigurationError
from . import _validate as check
from ._base import SHORTEST_REFRESHED, Duration, Hop, sts_params
from ._session_policy import PolicyLike
from ._session_tokens import SESSION_TOKEN_MAX

__all__ = ["GetScopedCredentials"]

logger = logging.getLogger("refreshsts")

MAX_SCOPE_LAYERS = 3
"""How many scope-down policies STS stacks on one session (its ScopedPoliciesCount)."""
_NOTE = "scoped credentials never outlive the credentials they are made from"


@dataclass(frozen=True, eq=True)
class GetScopedCredentials(Hop):
    """The credentials before it, scoped down (sts:GetScopedCredentials).

    The new credentials keep the caller's identity (session ARN, session name, tags) with
    the permissions both the caller and `policy` allow, and last at most as long as the
    caller's: without `duration`, they expire with them. A sub-process or an agent can so
    get less than the session it runs in without assuming another role.

    STS answers it only for temporary credentials, on regional endpoints: after an IAM
    user's long-term keys, put GetSessionToken() before it. Up to three scope-down policies
    stack on one session, so at most three of these hops with a policy may follow each
    other. A session's own `duration=` does not apply to it.

    Args:
        policy: A scope-down policy (JSON text or a dict) of at most 2048 characters.
        duration: How long the credentials last, 1 min to 36 h but never longer than the
            hop before, or ``"max"`` (as long as the credentials before them); by default
            until the caller's credentials expire.
        description: ScopedSessionDescription CloudTrail records, 2 to 256 characters.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096.

    Raises:
        ConfigurationError: Neither `policy` nor `duration` is given, or a parameter is
            malformed or out of range (before any STS call).
    """

    policy: str | None = None
    duration: Duration = None
    description: str | None = None
    minimum_session_token_size: int | None = None

    operation: ClassVar[str] = "GetScopedCredentials"
    response_arn_key: ClassVar[str | None] = "SessionInfo"
    regional_only: ClassVar[bool] = True
    bounded_by_caller: ClassVar[bool] = True
    needs_temporary_caller: ClassVar[bool] = True
    chains_assume_role: ClassVar[bool] = True
    chaining_note: ClassVar[str] = (
        "scoped credentials keep their caller's session, and STS counts an AssumeRole signed "
        "by temporary credentials as role chaining"
    )

    def __init__(
        self,
        policy: PolicyLike = None,
        *,
        duration: DurationLike | None = None,
        description: str | None = None,
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where()
        if policy is None and duration is None:
            raise ConfigurationError(
                f"{where}: pass policy= (a scope-down policy), duration= (shorter-lived "
                "credentials) or both; with neither, STS would hand back what the caller holds"
            )
        self._set(policy=check.policy(where, policy))
        self._init_duration(where, duration)
        self._set(
            description=check.description(where, description),
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
        )

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(SHORTEST_REFRESHED, SESSION_TOKEN_MAX, SESSION_TOKEN_MAX, _NOTE)

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        scope = "policy" if self.policy is not None else "no policy"
        return f"GetScopedCredentials with {scope}" + (
            f" ({self.description})" if self.description else ""
        )

    def request(self, *, duration: int | None) -> dict[str, Any]:
        return sts_params(
            Policy=self.policy,
            DurationSeconds=duration,
            ScopedSessionDescription=self.description,
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def resolve_duration(self, session_default: Duration, *, chained: bool, where: str) -> Duration:
        """Its own duration only: without one, the credentials live as long as the caller's."""
        return super().resolve_duration(None, chained=chained, where=where)

    def lifetime(self, planned: Duration, *, chained: bool, caller: int | None) -> int | None:
        if planned is None or planned == MAX:
            return caller
        return planned if caller is None else min(planned, caller)

    def check_place(
        self, earlier: Sequence[Hop], where: str, *, caller_lifetime: int | None
    ) -> None:
        own = self.duration
        if isinstance(own, int) and caller_lifetime is not None and own > caller_lifetime:
            raise ConfigurationError(
                f"{where}: duration={own} s ({format_duration(own)}) is longer than the "
                f"{format_duration(caller_lifetime)} the hop before is planned to last, and "
                f"{_NOTE} (STS answers InsufficientSessionLifetime): give it a shorter "
                "duration, or none to expire with the hop before"
            )
        layers = 0
        for hop in reversed(earlier):
            if not isinstance(hop, GetScopedCredentials):
                break
            layers += hop.policy is not None
        if self.policy is not None and layers >= MAX_SCOPE_LAYERS:
            raise ConfigurationError(
                f"{where}: it would be scope-down policy {layers + 1} on one session, and STS "
                f"stacks at most {MAX_SCOPE_LAYERS} (ScopedPoliciesCount): merge the policies "
                "of consecutive GetScopedCredentials hops into fewer"
            )

    def fit_duration(self, duration: int, signer_left: float | None) -> int:
        """At most what the signing credentials have left, which STS would refuse to exceed."""
        if signer_left is None or duration <= signer_left:
            return duration
        fitted = max(1, math.floor(signer_left))
        logger.info(
            "%s: asking for %s instead of %s: the credentials signing it expire sooner",
            self.label,
            format_duration(fitted),
            format_duration(duration),
        )
        return fitted
