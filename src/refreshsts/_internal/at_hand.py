"""Cache keys made from what is at hand: token files and held answers, no callable asked.

While an answer no retry can fix stands in for STS, each read checks whether the hop would
now present another proof (a rotated token file). Asking a token callable there would make
a callable that mints a new token each time cost one STS call per read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["only_at_hand", "required"]

_ONLY_AT_HAND: ContextVar[bool] = ContextVar("refreshsts_only_at_hand", default=False)


@contextmanager
def only_at_hand() -> Iterator[None]:
    """Within, a key that would need a token callable asked raises instead."""
    reset = _ONLY_AT_HAND.set(True)
    try:
        yield
    finally:
        _ONLY_AT_HAND.reset(reset)


def required() -> bool:
    """True within `only_at_hand()`."""
    return _ONLY_AT_HAND.get()
