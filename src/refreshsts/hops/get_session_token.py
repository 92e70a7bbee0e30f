"""GetSessionToken: temporary credentials for an IAM user itself, the one hop that lasts 36 h."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..durations import DurationLike, DurationLimits
from ._base import Duration, Hop, init_duration

__all__ = ["GetSessionToken"]

SESSION_TOKEN_MAX = 129600


@dataclass(frozen=True, eq=True)
class GetSessionToken(Hop):
    """Session credentials for the IAM user in the source (sts:GetSessionToken).

    STS refuses this call from a role session, so it can only be the first hop.
    """

    duration: Duration = None

    operation: ClassVar[str] = "GetSessionToken"
    may_follow_role: ClassVar[bool] = False

    def __init__(self, *, duration: DurationLike | None = None) -> None:
        object.__setattr__(self, "duration", None)
        init_duration(self, "GetSessionToken", duration)

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(900, SESSION_TOKEN_MAX, 43200)

    @property
    def label(self) -> str:
        return "GetSessionToken"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        return {} if duration is None else {"DurationSeconds": duration}

    def cache_fields(self) -> Mapping[str, Any]:
        return {}

    def with_duration(self, duration: DurationLike | None) -> GetSessionToken:
        return GetSessionToken(duration=duration)
