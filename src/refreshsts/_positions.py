"""Where a hop may stand in a chain, and what a role-session source does to the first hop.

Checked when the session is built, before any call: an unsigned hop (web identity, SAML)
must come first, nothing may follow a hop whose credentials cannot call STS, and when the
source is itself a role session (an instance or container role, a profile that assumes a
role) the first AssumeRole is role chaining, which AWS caps at 1 h.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from botocore import UNSIGNED
from botocore.config import Config

from .durations import MAX, format_duration
from .errors import ConfigurationError
from .hops import Hop
from .hops._base import Duration, check_range
from .sources import Source

__all__ = [
    "chained_at",
    "check_position",
    "first_hop_after_source",
    "is_unsigned",
    "unsigned_config",
]

logger = logging.getLogger("refreshsts")


def is_unsigned(hop: Hop) -> bool:
    """True for a hop whose STS request carries no signature (the token is the proof)."""
    return bool(getattr(hop, "unsigned", False))


def unsigned_config(config: Config) -> Config:
    """`config` for an STS client that signs nothing and so resolves no credentials."""
    return config.merge(Config(signature_version=UNSIGNED))


def check_position(hops: Sequence[Hop], index: int, where: str) -> None:
    """Refuse hop `index` where STS could never answer it."""
    hop = hops[index]
    if index > 0 and is_unsigned(hop):
        raise ConfigurationError(
            f"{where}: {hop.operation} is sent without credentials (the identity provider's "
            "token or assertion is the proof), so it must be the first hop"
        )
    before = hops[index - 1] if index > 0 else None
    if before is not None and getattr(before, "ends_chain", False):
        raise ConfigurationError(
            f"{where}: the {before.operation} credentials before it may call no STS operation "
            f"but GetCallerIdentity, so {before.operation} must be the last hop"
        )


def chained_at(hops: Sequence[Hop], index: int, source: Source) -> bool:
    """True when hop `index` is called with role-session credentials (role chaining)."""
    if index > 0:
        return hops[index - 1].returns_role_session
    return source.role_session is not None and not is_unsigned(hops[0])


def first_hop_after_source(
    hops: Sequence[Hop], durations: Sequence[Duration], source: Source
) -> list[Duration]:
    """`durations` with the first hop's re-planned when the source is a role session."""
    planned = list(durations)
    if not hops or not chained_at(hops, 0, source):
        return planned
    hop = hops[0]
    where = (
        f"hop 1 of {len(hops)} ({hop.label}) with {source.label}, a role session "
        f"({source.role_session})"
    )
    if not hop.may_follow_role:
        raise ConfigurationError(
            f"{where}: STS answers {hop.operation} only for IAM user (or root) credentials; "
            "use a source holding an IAM user's keys"
        )
    limits = hop.limits(chained=True)
    if hop.duration is not None:
        if hop.duration != MAX:
            check_range(where, hop.duration, limits)
        return planned
    first = planned[0] if planned else None
    if isinstance(first, int) and first > limits.maximum:
        logger.info(
            "%s: this hop is role chaining, which AWS caps at %s; session duration %s "
            "lowered to %s",
            where,
            format_duration(limits.maximum),
            format_duration(first),
            format_duration(limits.maximum),
        )
        planned[0] = limits.maximum
    return planned
