"""The exceptions refreshsts raises: one base, a configuration error and a refresh error."""

from __future__ import annotations

__all__ = ["ConfigurationError", "RefreshError", "RefreshstsError"]


class RefreshstsError(Exception):
    """Base class of every error refreshsts raises on purpose."""


class ConfigurationError(RefreshstsError, ValueError):
    """A hop, duration, source or option that can never work, refused before any STS call."""


class RefreshError(RefreshstsError):
    """No valid credentials are left and fetching new ones failed.

    `hop` is the 1-based position of the hop that failed (0 for the root source) and
    `description` names it; the underlying error is chained as `__cause__`.

    Args:
        message: What failed and what to do about it.
        hop: 1-based position of the failing hop, 0 for the root source, None if unknown.
        description: The failing hop's or source's label.
    """

    def __init__(self, message: str, *, hop: int | None = None, description: str = "") -> None:
        super().__init__(message)
        self.hop = hop
        self.description = description
