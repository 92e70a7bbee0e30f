"""Sending a hop's request when some parameters are only known at call time (codes, tokens)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .._temporary import TemporaryCredentials
from ..durations import format_duration
from ._base import _snake

if TYPE_CHECKING:
    from ._base import Hop

__all__ = ["ROOT_SESSION_MAX", "note_root_cap", "send"]

logger = logging.getLogger("refreshsts")

ROOT_SESSION_MAX = 3600
"""STS caps session and federation tokens of the account root user at 1 h, without an error."""


def send(hop: Hop, client: Any, params: dict[str, Any]) -> TemporaryCredentials:
    """Call `hop`'s STS operation with `params` and return the credentials it hands out."""
    issued = time.time()
    response = getattr(client, _snake(hop.operation))(**params)
    return TemporaryCredentials.from_sts(response, issued=issued, arn_key=hop.response_arn_key)


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
