"""Token buckets that keep STS requests under a rate: one per process, or one per Redis.

Both hand out reservations one `1 / rate` seconds apart and make each caller sleep until
its own, so in any window of `t` seconds at most `1 + rate * t` requests start (the bucket
holds one token: no burst beyond a single request). Waiting callers queue in arrival order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from . import forks

__all__ = ["RedisTokenBucket", "TokenBucket"]

logger = logging.getLogger("refreshsts")

Sleep = Callable[[float], None]


class TokenBucket:
    """At most `1 + rate * t` acquisitions in any `t` seconds, in this process."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self._interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()
        forks.reset_in_child(self, "_lock")

    def reserve(self) -> float:
        """Take the next slot; return the seconds to wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        return slot - now

    def acquire(self) -> float:
        """Wait for the next slot; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def before_send(self, **_: Any) -> None:
        """A botocore `before-send` handler: every HTTP attempt takes a slot first."""
        self.acquire()


# KEYS[1]: the bucket; ARGV[1]: seconds between slots. Redis's clock decides, so the hosts'
# clocks need not agree. Returns the wait as a string (a Lua number would lose its fraction).
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local ttl = math.ceil((slot + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl)
return string.format('%.6f', slot - now)
"""


class RedisTokenBucket(TokenBucket):
    """The same bucket kept in Redis: every process using `key` shares its slots.

    Reservations are made atomically by a Lua script on Redis's clock, so the requests of
    all hosts together start at most `1 + rate * t` times in any `t` seconds, give or take
    each host's round trip to Redis. While Redis cannot be reached each process falls
    back to a bucket of its own at the same rate (a warning says so), which then bounds
    each process, not the fleet.
    """

    def __init__(self, client: Any, key: str, rate: float, *, sleep: Sleep = time.sleep) -> None:
        super().__init__(rate, sleep=sleep)
        self.key = key
        self._script = client.register_script(_RESERVE)
        self._warned_at = float("-inf")

    def reserve(self) -> float:
        try:
            answer = self._script(keys=[self.key], args=[repr(self._interval)])
        except Exception as exc:
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                logger.warning(
                    "STS rate bucket in Redis unavailable (%s: %s); limiting this process only",
                    type(exc).__name__,
                    exc,
                )
            return super().reserve()
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        return max(0.0, float(text))
