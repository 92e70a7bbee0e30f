"""When to refresh: windows sized by the lifetime of the credentials in hand."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigurationError

__all__ = ["RefreshWindows"]


@dataclass(frozen=True)
class RefreshWindows:
    """Advisory and mandatory refresh windows, as seconds before expiry.

    AWS's cross-SDK tiers give the advisory window: 5 min for lifetimes up to 20 min, 15 min
    up to 90 min, 60 min beyond. Taken alone they would make a 15-minute credential refresh
    after 10 minutes but one that lives 5 minutes refresh on every request, so each window is
    also capped at a fraction of the lifetime: a refresh is attempted once less than
    ``min(tier, advisory_fraction * lifetime)`` remains and becomes mandatory (callers wait)
    under ``min(mandatory_seconds, mandatory_fraction * lifetime)``.
    """

    advisory_fraction: float = 1 / 3
    mandatory_seconds: float = 60.0
    mandatory_fraction: float = 1 / 10

    def __post_init__(self) -> None:
        if not 0 < self.advisory_fraction < 1:
            raise ConfigurationError(
                f"RefreshWindows: advisory_fraction={self.advisory_fraction} "
                "must be between 0 and 1"
            )
        if not 0 < self.mandatory_fraction < self.advisory_fraction:
            raise ConfigurationError(
                f"RefreshWindows: mandatory_fraction={self.mandatory_fraction} must be above 0 "
                f"and below advisory_fraction={self.advisory_fraction}"
            )
        if self.mandatory_seconds < 0:
            raise ConfigurationError(
                f"RefreshWindows: mandatory_seconds={self.mandatory_seconds} must not be negative"
            )

    @staticmethod
    def tier(lifetime: float) -> float:
        """AWS's advisory window for credentials living `lifetime` seconds."""
        if lifetime <= 20 * 60:
            return 5 * 60.0
        if lifetime < 90 * 60:
            return 15 * 60.0
        return 60 * 60.0

    def advisory(self, lifetime: float) -> float:
        return min(self.tier(lifetime), self.advisory_fraction * lifetime)

    def mandatory(self, lifetime: float) -> float:
        return min(self.mandatory_seconds, self.mandatory_fraction * lifetime)

    @staticmethod
    def margin(lifetime: float) -> float:
        """How long before expiry credentials stop being handed out at all."""
        return min(5.0, 0.05 * lifetime)
