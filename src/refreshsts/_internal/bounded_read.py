"""Read an HTTP body within a deadline and a size limit.

Socket timeouts bound each read, not the whole body: a server that drips one byte a
second would hold a refresh (and its lock) for as long as its body is long.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["BodyTooSlow", "read_within"]

_CHUNK = 16 * 1024


class BodyTooSlow(OSError):
    """The body did not arrive within its deadline or exceeded its limit."""


def read_within(read: Callable[[int], bytes], *, deadline: float, limit: int) -> bytes:
    """Chunks from `read(n)` until it returns nothing; `deadline` is a `time.monotonic()`.

    `read` must return what has arrived (a `read1`), not wait for all `n` bytes.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise BodyTooSlow("the answer did not arrive in time")
        chunk = read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BodyTooSlow(f"the answer is longer than {limit} bytes")
        chunks.append(chunk)
