"""Errors that quote an HTTP response body, reported by their type and a fixed text instead.

botocore's `ResponseParserError` quotes the whole answer it could not parse: an STS answer
cut short after `<SecretAccessKey>` would put the key into logs, on stderr, into a
`RefreshError` and into `serve`'s 500 body. The stand-in keeps the type, so callers that
catch it still do, and chains nothing, so no traceback prints the original.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.parsers import ResponseParserError

__all__ = ["MESSAGE", "calling", "withheld"]

T = TypeVar("T")

MESSAGE = "the answer could not be parsed; its body is withheld, since it may hold credentials"

_CARRIERS: tuple[type[BaseException], ...] = (ResponseParserError,)
_MARK = "_refreshsts_withheld"


def withheld(exc: BaseException) -> BaseException:
    """`exc`, unless it or an error it chains quotes a body: then a bare stand-in for that."""
    carrier = _carrier(exc)
    if carrier is None:
        return exc
    stand_in: BaseException
    try:
        stand_in = type(carrier)(MESSAGE)
    except Exception:  # a subclass with another signature
        stand_in = ResponseParserError(MESSAGE)
    setattr(stand_in, _MARK, True)
    return stand_in


def calling(function: Callable[[], T]) -> T:
    """`function()`, raising the stand-in (with no chain) of an error that quotes a body."""
    try:
        return function()
    except Exception as exc:
        safe = withheld(exc)
        if safe is exc:
            raise
    raise safe  # outside the except block, so the original is not kept as __context__


def _carrier(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _CARRIERS):
            return None if getattr(current, _MARK, False) else current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
