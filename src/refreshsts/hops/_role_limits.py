"""Duration rules shared by the hops that hand out a role session from a federated identity."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..durations import DurationLimits

__all__ = ["FEDERATED_ROLE_LIMITS", "step_down_to_an_hour"]

_NOTE = (
    "a role session lasts at most 12h, and at most the role's MaxSessionDuration; only session "
    "tokens (GetSessionToken, GetFederationToken) may last longer"
)
FEDERATED_ROLE_LIMITS = DurationLimits(900, 43200, 3600, _NOTE)
"""AssumeRoleWithWebIdentity and AssumeRoleWithSAML: never chained, since they sign nothing."""


def step_down_to_an_hour(error: ClientError, requested: int) -> int | None:
    """1 h when STS finds `requested` over the role's MaxSessionDuration (every role allows 1 h)."""
    err = error.response.get("Error", {})
    if err.get("Code") != "ValidationError" or requested <= 3600:
        return None
    message = str(err.get("Message", ""))
    if "MaxSessionDuration" in message or "chaining" in message:
        return 3600
    return None
