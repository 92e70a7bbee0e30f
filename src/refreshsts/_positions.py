"""Where a hop may stand in a chain, and the duration it asks for there.

Checked when the session is built, after the source is resolved and before any call: an
unsigned hop (web identity, SAML) must come first, nothing may follow a hop whose
credentials cannot call STS, and an AssumeRole is role chaining, which AWS caps at 1 h, when
its caller is a role session (the source's, or a hop's) or GetSessionToken's session (STS
answers "DurationSeconds exceeds the 1 hour session limit for roles assumed by role
chaining" for either).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from botocore import UNSIGNED
from botocore.config import Config

from .errors import ConfigurationError
from .hops import Hop
from .hops._base import Duration
from .sources import Source

__all__ = ["chained_at", "is_unsigned", "plan_durations", "unsigned_config"]


def is_unsigned(hop: Hop) -> bool:
    """True for a hop whose STS request carries no signature (the token is the proof)."""
    return bool(getattr(hop, "unsigned", False))


def unsigned_config(config: Config) -> Config:
    """`config` for an STS client that signs nothing and so resolves no credentials."""
    return config.merge(Config(signature_version=UNSIGNED))


def chained_at(hops: Sequence[Hop], index: int, source: Source) -> bool:
    """True when STS counts hop `index` as role chaining: temporary credentials call it."""
    if index > 0:
        return hops[index - 1].chains_assume_role
    temporary = source.role_session is not None or getattr(source, "temporary", None) is not None
    return temporary and not is_unsigned(hops[0])


def plan_durations(
    hops: Sequence[Hop], session_default: Duration, source: Source
) -> list[Duration]:
    """Each hop's duration in its position; refuses what STS would refuse, before any call."""
    if not hops:
        raise ConfigurationError("RefreshableSession needs at least one hop, e.g. AssumeRole(...)")
    planned: list[Duration] = []
    lifetime: int | None = None
    for index, hop in enumerate(hops):
        if not isinstance(hop, Hop):
            raise ConfigurationError(
                f"hop {index + 1} is a {type(hop).__name__}, not a hop: pass AssumeRole(...) "
                "or GetSessionToken(...)"
            )
        chained = chained_at(hops, index, source)
        after_source = index == 0 and chained
        where = f"hop {index + 1} of {len(hops)} ({hop.label})"
        if after_source and source.role_session is not None:
            where += f" with {source.label}, a role session ({source.role_session})"
        elif after_source:
            where += (
                f" with {source.label}, whose keys are temporary ({source.temporary}), which "
                "STS counts as role chaining"
            )
        elif index > 0 and chained and hops[index - 1].chaining_note:
            where += f" after {hops[index - 1].operation} ({hops[index - 1].chaining_note})"
        _check_position(hops, index, where, after_source=after_source)
        duration = hop.resolve_duration(session_default, chained=chained, where=where)
        if index == 0 and hop.needs_temporary_caller:
            _refuse_long_term_keys(hop, where, source)
        hop.check_place(hops[:index], where, caller_lifetime=lifetime)
        lifetime = hop.lifetime(duration, chained=chained, caller=lifetime)
        planned.append(duration)
    return planned


def _check_position(hops: Sequence[Hop], index: int, where: str, *, after_source: bool) -> None:
    """Refuse hop `index` where STS could never answer it."""
    hop = hops[index]
    if index > 0 and is_unsigned(hop):
        raise ConfigurationError(
            f"{where}: {hop.operation} is sent without credentials (the identity provider's "
            "token or assertion is the proof), so it must be the first hop"
        )
    before = hops[index - 1] if index > 0 else None
    if before is not None and before.ends_chain:
        raise ConfigurationError(
            f"{where}: the {before.operation} credentials before it {before.chain_end_note}, "
            f"so {before.operation} must be the last hop"
        )
    if hop.may_follow_role or (before is not None and before.may_hand_out_user_keys):
        return
    if index > 0:
        raise ConfigurationError(
            f"{where}: STS only answers {hop.operation} for IAM user (or root) credentials, "
            "so it must be the first hop"
        )
    if after_source:
        raise ConfigurationError(
            f"{where}: STS answers {hop.operation} only for IAM user (or root) credentials; "
            "use a source holding an IAM user's keys"
        )


def _refuse_long_term_keys(hop: Hop, where: str, source: Source) -> None:
    held = long_term_keys(source)
    if held is not None:
        raise ConfigurationError(
            f"{where}: {held}, and STS answers {hop.operation} only for temporary "
            "credentials: put GetSessionToken() before it"
        )


def long_term_keys(source: Source) -> str | None:
    """Where `source` holds an IAM user's long-term keys (no session token), when known."""
    if source.role_session is not None or source.temporary is not None:
        return None
    held = getattr(source.botocore_session, "_credentials", None)
    if held is not None and getattr(held, "method", None) == "explicit":
        return None if held.token else f"{source.label} holds long-term keys (no session token)"
    profile = source.profile
    if type(source) is Source and profile is None:
        if os.environ.get("AWS_ACCESS_KEY_ID"):
            return f"{source.label} takes AWS_ACCESS_KEY_ID without AWS_SESSION_TOKEN"
        profile = (
            os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
        )
    if profile is None:
        return None
    try:
        config = source.botocore_session.full_config.get("profiles", {}).get(profile, {})
    except Exception:  # an unreadable config fails later, with botocore's own words
        return None
    others = (
        "role_arn",
        "web_identity_token_file",
        "credential_process",
        "sso_session",
        "sso_start_url",
        "login_session",
    )
    if config.get("aws_access_key_id") and not any(key in config for key in others):
        return f"profile {profile!r} holds an IAM user's long-term keys (no aws_session_token)"
    return None
