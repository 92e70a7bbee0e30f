"""Durations: parsing user input and the limits each STS operation puts on it."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Final, Literal, Union

from .errors import ConfigurationError

__all__ = ["MAX", "DurationLike", "DurationLimits", "format_duration", "parse_duration"]

MAX: Final = "max"
"""Ask for the longest duration the hop allows (stepping down if STS refuses it)."""

DurationLike = Union[int, _dt.timedelta, str]
"""Seconds as an int, a `datetime.timedelta`, text such as ``"1h30m"``, or ``"max"``."""

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_TEXT = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
_SHORTEST = 900
"""No STS operation accepts a DurationSeconds below 15 minutes."""
_LONGEST = 129600
"""Nor above 36 h (GetSessionToken, GetFederationToken); a role session is at most 12 h."""


def parse_duration(
    value: DurationLike, *, name: str = "duration", limits: DurationLimits | None = None
) -> int | Literal["max"]:
    """Read a duration the way every `duration=` option does.

    Args:
        value: Seconds as an int, a `datetime.timedelta`, text such as ``"1h30m"``,
            ``"900"`` or ``"36h"``, or ``"max"``.
        name: The option's name, for the error message.
        limits: The range of the operation it is for, named when `value` is not positive;
            without it, the range of every STS operation.

    Returns:
        Whole seconds, or ``"max"``.

    Raises:
        ConfigurationError: `value` is malformed, has a fraction of a second, or is not
            positive. Each hop checks its own range when it is built.
    """
    if isinstance(value, bool):
        raise ConfigurationError(
            f"{name}={value!r} is not a duration: use seconds, a timedelta or text like '1h'"
        )
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, _dt.timedelta):
        total = value.total_seconds()
        if total != int(total):
            raise ConfigurationError(
                f"{name}={value!r} has a fraction of a second: STS takes whole seconds"
            )
        seconds = int(total)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text == MAX:
            return MAX
        if text.isascii() and text.isdigit():
            seconds = int(text)
        else:
            match = _TEXT.fullmatch(text)
            if not text or match is None:
                raise ConfigurationError(
                    f"{name}={value!r} is not a duration: write seconds or text like '15m', '1h', "
                    "'1h30m', '36h', or 'max'"
                )
            seconds = sum(
                int(part) * unit
                for part, unit in zip(match.groups(), _UNIT_SECONDS.values(), strict=True)
                if part is not None
            )
    else:
        raise ConfigurationError(
            f"{name}={value!r} is a {type(value).__name__}: use seconds (int), a timedelta "
            "or text like '1h'"
        )
    if seconds <= 0 and limits is not None:
        raise ConfigurationError(
            f"{name}={value!r} is not a positive duration: allowed {limits.describe()}, or 'max'"
        )
    if seconds <= 0:
        raise ConfigurationError(
            f"{name}={value!r} is not a positive duration: STS accepts {_SHORTEST}-{_LONGEST} s "
            f"({format_duration(_SHORTEST)}-{format_duration(_LONGEST)}, 12h at most for a role "
            "session), or 'max'"
        )
    return seconds


def format_duration(seconds: int | float) -> str:
    """Render seconds the way users write them: ``3600`` -> ``"1h"``, ``5400`` -> ``"1h30m"``."""
    remaining = int(seconds)
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        if unit == "d":
            continue
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class DurationLimits:
    """The DurationSeconds range an STS operation accepts in one position of a chain."""

    minimum: int
    maximum: int
    default: int
    note: str = ""

    def describe(self) -> str:
        return (
            f"{self.minimum}-{self.maximum} s ({format_duration(self.minimum)}-"
            f"{format_duration(self.maximum)})"
        )
