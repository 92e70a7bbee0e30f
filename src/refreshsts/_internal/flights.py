"""One refresh per cache entry in this process: threads asking for the same one share it.

Without this, every session of a process on the same role and cache waits for the cache
lock on its own and then calls STS on its own; with a stalled lock holder elsewhere (a
process stopped with Ctrl-Z, a planted Redis lock) that is N waits and N calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

from . import forks

__all__ = ["PeerTimeout", "share"]

T = TypeVar("T")

_flights: dict[Hashable, Future[Any]] = {}
_lock = threading.Lock()


class PeerTimeout(TimeoutError):
    """Another thread's refresh of the same entry did not end within the wait."""


def share(key: Hashable, work: Callable[[], T], *, wait: float) -> tuple[T, bool]:
    """`work()`'s outcome, run by the first thread asking for `key`; the others wait for it.

    Returns (result, whether this thread ran `work`); a failure of `work` is raised in every
    thread that waited for it. A waiter gives up after `wait` seconds with PeerTimeout.
    """
    with _lock:
        flight = _flights.get(key)
        leading = flight is None
        if flight is None:
            flight = _flights[key] = Future()
    if not leading:
        try:
            flight.exception(timeout=wait)
        except TimeoutError:
            raise PeerTimeout(
                f"waited {wait:g} s for another thread's refresh of the same credentials"
            ) from None
        return flight.result(), False
    try:
        result = work()
    except Exception as exc:
        flight.set_exception(exc)
        raise
    except BaseException:
        flight.set_exception(PeerTimeout("the thread refreshing these credentials was stopped"))
        raise
    else:
        flight.set_result(result)
        return result, True
    finally:
        with _lock:
            if _flights.get(key) is flight:
                del _flights[key]


def _after_fork_in_child() -> None:
    """Refreshes under way in the parent never end in the child: nobody waits for them."""
    global _lock
    _lock = threading.Lock()
    _flights.clear()


forks.on_fork_in_child(_after_fork_in_child)
