"""What GetSessionToken and GetFederationToken share: up to 36 h, and 1 h for the root user."""

from __future__ import annotations

import logging

from .._temporary import TemporaryCredentials
from ..durations import format_duration
from ._base import Hop

__all__ = ["ROOT_SESSION_MAX", "SESSION_TOKEN_MAX", "note_root_cap"]

logger = logging.getLogger("refreshsts")

SESSION_TOKEN_MAX = 129600
"""36 h: the longest any STS credential lasts."""
ROOT_SESSION_MAX = 3600
"""STS caps session and federation tokens of the account root user at 1 h, without an error."""


def note_root_cap(hop: Hop, creds: TemporaryCredentials, requested: int | None) -> None:
    """Say why a session token came back after 1 h when more was asked: the caller is root."""
    if requested is None or requested <= ROOT_SESSION_MAX:
        return
    if creds.lifetime <= ROOT_SESSION_MAX + 60:
        logger.info(
            "%s: asked for %s, STS issued %s: the source is the account root user, whose "
            "%s credentials last at most 1h (use an IAM user's keys for longer sessions)",
            hop.label,
            format_duration(requested),
            format_duration(round(creds.lifetime)),
            hop.operation,
        )
