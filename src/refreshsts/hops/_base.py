"""The Hop base: one STS operation, its parameters and its duration rules."""

from __future__ import annotations

import abc
import dataclasses
import functools
import getpass
import re
import socket
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError

from .._temporary import TemporaryCredentials
from ..durations import MAX, DurationLike, DurationLimits, format_duration, parse_duration
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Hop", "SourceHop", "default_session_name"]

Duration = int | Literal["max"] | None

SHORTEST_REFRESHED = 60
"""The shortest duration refreshsts asks of operations STS lets go shorter (AssumeRoot from
0 s, GetScopedCredentials from 1 s): credentials living under a minute would be refreshed
every few seconds."""


class Hop(abc.ABC):
    """One step of a credential chain: an STS operation called with the credentials before it.

    Subclasses are frozen dataclasses that validate themselves on construction, so a hop
    that exists is a hop STS could accept. Their `limits`, `request`, `call`,
    `cache_fields`, `step_down` and `resolve_duration` are the chain's plumbing, not for
    users to call.
    """

    operation: ClassVar[str]
    """The STS API name, e.g. ``"AssumeRole"``."""
    returns_role_session: ClassVar[bool] = False
    """True when the credentials are a role session."""
    chains_assume_role: ClassVar[bool] = False
    """True when STS counts an AssumeRole signed by these credentials as role chaining (1 h cap)."""
    chaining_note: ClassVar[str] = ""
    """Why an AssumeRole after this hop is role chaining, when its credentials are no role."""
    may_follow_role: ClassVar[bool] = True
    """False when STS refuses this operation for role credentials."""
    response_arn_key: ClassVar[str | None] = None
    regional_only: ClassVar[bool] = False
    """True when STS answers it on regional endpoints only, never on sts.amazonaws.com."""
    ends_chain: ClassVar[bool] = False
    """True when its credentials may call no STS operation a hop could follow with."""
    chain_end_note: ClassVar[str] = "may call no STS operation but GetCallerIdentity"
    """Why nothing may follow it, when `ends_chain`."""
    bounded_by_caller: ClassVar[bool] = False
    """True when STS refuses a duration beyond what the signing credentials have left."""
    needs_temporary_caller: ClassVar[bool] = False
    """True when STS refuses it signed by an IAM user's (or root's) long-term keys."""
    calls_sts: ClassVar[bool] = True
    """False for a hop a source performs itself (RolesAnywhere's CreateSession, a
    credential_process run): the chain builds it no STS client."""
    names_principal: ClassVar[bool] = True
    """False when nothing in its cache fields says whose keys it hands out (a command may
    print anyone's): the hops after it are cached under a proof of the keys themselves."""
    may_hand_out_user_keys: ClassVar[bool] = False
    """True when its credentials may be an IAM user's long-term keys, so operations STS
    answers only for IAM users may follow it."""

    duration: Duration

    @abc.abstractmethod
    def limits(self, *, chained: bool) -> DurationLimits:
        """The DurationSeconds range this hop accepts in a chained or unchained position."""

    @abc.abstractmethod
    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The STS request parameters, with DurationSeconds when `duration` is set.

        Never a secret: tokens and MFA codes are added by `call`, when STS is called.
        """

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """What the hop is, for logs and errors: never a secret."""

    def cache_fields(self) -> Mapping[str, Any]:
        """Every parameter that changes what STS returns; hashed into cache keys.

        The request without DurationSeconds, which the chain adds as planned.
        """
        return self.request(duration=None)

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """Call STS with `client` and return the credentials it hands out."""
        return self._send(client, self.request(duration=duration))

    def refresh_wait(self) -> float | None:
        """How long a caller should wait for a refresh of this hop another caller started.

        Returns:
            Seconds, when one call may take longer than a refresh strategy's `wait_timeout`
            allows (a command signing in interactively); None for an STS call.
        """
        return None

    def step_down(self, error: ClientError, requested: int, *, chained: bool) -> int | None:
        """A shorter duration to retry with when STS refuses `requested` as too long."""
        del error, requested, chained
        return None

    def resolve_duration(self, session_default: Duration, *, chained: bool, where: str) -> Duration:
        """The duration this hop asks for in its position: its own, else the session's."""
        limits = self.limits(chained=chained)
        if self.duration is not None:
            if self.duration != MAX:
                check_range(where, self.duration, limits)
            return self.duration
        if session_default is None or session_default == MAX:
            return session_default
        try:
            check_range(where, session_default, limits)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"{exc}; the session's duration applies to every hop without its own: pass "
                "duration='max' for each hop's longest, or give this hop its own duration="
            ) from None
        return session_default

    def lifetime(self, planned: Duration, *, chained: bool, caller: int | None) -> int | None:
        """How long its credentials are planned to last, for the hops after it to check.

        `planned` is its duration in its position; `caller`, the planned lifetime of the
        credentials signing it, when known.
        """
        del caller
        limits = self.limits(chained=chained)
        if planned == MAX:
            return limits.maximum
        return limits.default if planned is None else planned

    def check_place(
        self, earlier: Sequence[Hop], where: str, *, caller_lifetime: int | None
    ) -> None:
        """Refuse this hop after `earlier` where STS would refuse it; by default, nothing.

        `caller_lifetime` is the planned lifetime of the credentials signing it, when known.
        """
        del earlier, where, caller_lifetime

    def fit_duration(self, duration: int, signer_left: float | None) -> int:
        """The duration to send, given how many seconds the signing credentials have left.

        Asked only when `bounded_by_caller`; by default `duration` as planned.
        """
        del signer_left
        return duration

    def with_duration(self, duration: DurationLike | None) -> Self:
        """A copy of this hop asking for another duration, validated again.

        Args:
            duration: Seconds, a `timedelta`, text such as ``"1h"``, ``"max"``, or None
                for the session's duration.

        Returns:
            A new hop of the same kind; this one is unchanged.

        Raises:
            ConfigurationError: `duration` is malformed or out of this hop's range.
        """
        return dataclasses.replace(self, duration=duration)  # type: ignore[type-var]

    @classmethod
    def _where(cls, subject: object = None) -> str:
        """How errors name the hop: the operation and, when it is text, what it acts on."""
        return f"{cls.operation}({subject!r})" if isinstance(subject, str) else cls.operation

    def _set(self, **fields: Any) -> None:
        """Set checked values on the frozen dataclass, in `__init__` only."""
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def _init_duration(self, where: str, value: DurationLike | None) -> None:
        """Parse `value` into the hop, refusing what no position could accept."""
        limits = self.limits(chained=False)
        try:
            parsed = None if value is None else parse_duration(value, limits=limits)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        if parsed is not None and parsed != MAX:
            check_range(where, parsed, limits)
        self._set(duration=parsed)

    def _send(self, client: Any, params: Mapping[str, Any]) -> TemporaryCredentials:
        """Send `params` as this hop's STS operation and return the credentials it hands out."""
        issued = time.time()
        response = getattr(client, _snake(self.operation))(**params)
        return TemporaryCredentials.from_sts(response, issued=issued, arn_key=self.response_arn_key)


class SourceHop(Hop):
    """A hop a source performs itself and a session puts first (`Source.leading_hops`):
    it needs no AWS signature and calls no STS, so the chain builds it no STS client."""

    unsigned: ClassVar[bool] = True
    calls_sts: ClassVar[bool] = False
    keyed_by_public_facts: ClassVar[bool] = False
    """True when its cache key holds nothing secret, so whoever may write a cache entry
    could plant credentials for it: only a cache others cannot write (one of this host's
    user, or a sealed one) may hold its entries."""


def check_range(where: str, seconds: int, limits: DurationLimits) -> None:
    if not limits.minimum <= seconds <= limits.maximum:
        note = f"; {limits.note}" if limits.note and seconds > limits.maximum else ""
        raise ConfigurationError(
            f"{where}: duration={seconds} s ({format_duration(seconds)}) is out of range: "
            f"allowed {limits.describe()}{note}"
        )


def sts_params(**params: Any) -> dict[str, Any]:
    """STS request parameters: those given, leaving out the unset ones (None or empty)."""
    return {name: value for name, value in params.items() if value is not None and value != []}


_HOST_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)


@functools.lru_cache(maxsize=1)
def default_session_name() -> str:
    """A valid RoleSessionName naming this user and host, so CloudTrail shows who it was.

    No process id: credentials one process caches serve the others, and would carry its pid.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):  # no login name (a bare container uid)
        user = "user"
    user = _HOST_CHARS.sub("-", user) or "user"
    host = _HOST_CHARS.sub("-", socket.gethostname().split(".")[0]) or "host"
    return f"refreshsts-{user}@{host}"[:64]


def _snake(operation: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()
