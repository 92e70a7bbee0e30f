"""When to refresh: windows sized by the lifetime of the credentials in hand."""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .errors import ConfigurationError

__all__ = ["BackgroundRefresh", "OnDemandRefresh", "RefreshStrategy", "RefreshWindows"]


@dataclass(frozen=True)
class RefreshWindows:
    """Advisory and mandatory refresh windows, as seconds before expiry.

    AWS's cross-SDK tiers give the advisory window: 5 min for lifetimes up to 20 min, 15 min
    up to 90 min, 60 min beyond. Taken alone they would make a 15-minute credential refresh
    after 10 minutes but one that lives 5 minutes refresh on every request, so each window is
    also capped at a fraction of the lifetime: a refresh is attempted once less than
    ``min(tier, advisory_fraction * lifetime)`` remains and becomes mandatory (callers wait)
    under ``min(mandatory_seconds, mandatory_fraction * lifetime)``.

    Args:
        advisory_fraction: Largest share of the lifetime the advisory window may take,
            between 0 and 1.
        mandatory_seconds: Longest mandatory window, in seconds (at least 0).
        mandatory_fraction: Largest share of the lifetime the mandatory window may take,
            above 0 and below `advisory_fraction`.

    Raises:
        ConfigurationError: A value is not a finite number or out of its range.
    """

    advisory_fraction: float = 1 / 3
    mandatory_seconds: float = 60.0
    mandatory_fraction: float = 1 / 10

    def __post_init__(self) -> None:
        _require_finite(
            "RefreshWindows", self, "advisory_fraction", "mandatory_seconds", "mandatory_fraction"
        )
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
        """How long before expiry a refresh is first attempted.

        Args:
            lifetime: Seconds the credentials live, from issue to expiry.

        Returns:
            The advisory window, in seconds before expiry.
        """
        return min(self.tier(lifetime), self.advisory_fraction * lifetime)

    def mandatory(self, lifetime: float) -> float:
        """How long before expiry callers wait for a refresh instead of using what is in hand.

        Args:
            lifetime: Seconds the credentials live, from issue to expiry.

        Returns:
            The mandatory window, in seconds before expiry (never above the advisory one).
        """
        return min(
            self.mandatory_seconds, self.mandatory_fraction * lifetime, self.advisory(lifetime)
        )

    @staticmethod
    def margin(lifetime: float) -> float:
        """How long before expiry credentials stop being handed out at all."""
        return min(5.0, 0.05 * lifetime)


@runtime_checkable
class RefreshStrategy(Protocol):
    """When credentials are refreshed besides the windows: on demand, or ahead of time."""

    @property
    def wait_timeout(self) -> float:
        """Longest a caller waits for a refresh in the mandatory window, in seconds."""

    def refresh_ahead_at(self, advisory_at: float, lifetime: float) -> float | None:
        """When to refresh proactively, for a custom strategy; the credentials layer asks.

        Args:
            advisory_at: When the advisory window opens, as epoch seconds.
            lifetime: Seconds the credentials in hand live, from issue to expiry.

        Returns:
            When to refresh ahead, as epoch seconds; None to wait for a caller.
        """


def waiting_at_least(strategy: RefreshStrategy, wait: float | None) -> RefreshStrategy:
    """`strategy` with a `wait_timeout` of at least `wait` seconds, when it can be copied.

    A caller gives up on the cache lock after part of its `wait_timeout`; were that shorter
    than one fetch may run (an interactive sign-in), several processes would fetch at once.
    """
    if wait is None or strategy.wait_timeout >= wait or not dataclasses.is_dataclass(strategy):
        return strategy
    if "wait_timeout" not in {field.name for field in dataclasses.fields(strategy)}:
        return strategy
    patient: RefreshStrategy = dataclasses.replace(strategy, wait_timeout=wait)
    return patient


def _require_finite(where: str, options: object, *names: str) -> None:
    for name in names:
        value = getattr(options, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ConfigurationError(f"{where}: {name}={value!r} must be a finite number")


def _check_wait(where: str, wait_timeout: float) -> None:
    if isinstance(wait_timeout, bool) or not isinstance(wait_timeout, (int, float)):
        raise ConfigurationError(
            f"{where}: wait_timeout={wait_timeout!r} must be a number of seconds (0-3600]"
        )
    if not 0 < wait_timeout <= 3600:
        raise ConfigurationError(
            f"{where}: wait_timeout={wait_timeout} must be above 0 and at most 3600 s"
        )


@dataclass(frozen=True)
class OnDemandRefresh:
    """The default: refresh when a caller notices a window.

    In the advisory window the caller that notices hands the refresh to a worker thread and
    returns the credentials in hand; only the mandatory window makes callers wait, for at
    most `wait_timeout` seconds.

    Args:
        wait_timeout: Longest a caller waits for a refresh, in seconds (above 0, at most 3600).

    Raises:
        ConfigurationError: `wait_timeout` is not a number in range.
    """

    wait_timeout: float = 30.0

    def __post_init__(self) -> None:
        _check_wait("OnDemandRefresh", self.wait_timeout)

    def refresh_ahead_at(self, advisory_at: float, lifetime: float) -> float | None:
        return None


@dataclass(frozen=True)
class BackgroundRefresh:
    """Refresh ahead of the advisory window from one shared scheduler thread.

    Each refresh is due a random moment up to ``min(jitter * lifetime, max_jitter)`` seconds
    before the advisory window opens, so a fleet started together does not call STS
    together, and no request thread waits on STS in steady state. With `prefetch`, the first
    fetch starts when the session is created instead of on its first request.

    Args:
        wait_timeout: Longest a caller waits for a refresh, in seconds (above 0, at most 3600).
        jitter: Largest share of the lifetime a refresh may run early, at least 0 and below 1.
        max_jitter: Longest a refresh may run early, in seconds (at least 0).
        prefetch: Fetch the first credentials when the session is created.

    Raises:
        ConfigurationError: A value is not a number in its range.
    """

    wait_timeout: float = 30.0
    jitter: float = 0.1
    max_jitter: float = 300.0
    prefetch: bool = True

    def __post_init__(self) -> None:
        _check_wait("BackgroundRefresh", self.wait_timeout)
        _require_finite("BackgroundRefresh", self, "jitter", "max_jitter")
        if not 0 <= self.jitter < 1:
            raise ConfigurationError(
                f"BackgroundRefresh: jitter={self.jitter} must be at least 0 and below 1 "
                "(a fraction of the lifetime)"
            )
        if self.max_jitter < 0:
            raise ConfigurationError(
                f"BackgroundRefresh: max_jitter={self.max_jitter} must not be negative"
            )

    def refresh_ahead_at(self, advisory_at: float, lifetime: float) -> float | None:
        spread = min(self.jitter * lifetime, self.max_jitter)
        return advisory_at - random.uniform(0.0, spread)
