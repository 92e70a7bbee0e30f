"""One scheduler thread per process for every background-refreshing credential.

Entries are held weakly: credentials that are closed or collected simply drop out. The
thread exits when it has had nothing to do for a while and starts again on demand; after a
fork the child gets a fresh thread and fresh locks, with the parent's entries kept.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from . import worker

__all__ = ["cancel", "pending", "schedule"]

_IDLE_EXIT = 30.0
_MAX_WAIT = 60.0
"""Waits are capped so a suspended machine (monotonic clock stopped) is caught up soon."""

_heap: list[tuple[float, int, weakref.ref[Any]]] = []
_latest: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_seq = itertools.count()
_cond = threading.Condition()
_thread: threading.Thread | None = None


def schedule(target: Any, due: float) -> None:
    """Call ``target.run_scheduled_refresh()`` on the refresh pool at epoch time `due`.

    A later call for the same target replaces the earlier one.
    """
    with _cond:
        seq = next(_seq)
        _latest[target] = seq
        heapq.heappush(_heap, (due, seq, weakref.ref(target)))
        _ensure_thread()
        _cond.notify()


def cancel(target: Any) -> None:
    """Forget any refresh scheduled for `target`."""
    with _cond:
        _latest.pop(target, None)


def pending() -> int:
    """How many targets have a refresh scheduled (for tests and status)."""
    with _cond:
        return len(_latest)


def _ensure_thread() -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, name="refreshsts-scheduler", daemon=True)
        _thread.start()


def _next_due() -> tuple[float, Callable[[], None] | None]:
    """Pop what is due; returns (seconds to wait, task or None). Caller holds `_cond`."""
    while _heap:
        due, seq, ref = _heap[0]
        target = ref()
        if target is None or _latest.get(target) != seq:
            heapq.heappop(_heap)
            continue
        wait = due - time.time()
        if wait > 0:
            return min(wait, _MAX_WAIT), None
        heapq.heappop(_heap)
        del _latest[target]
        task: Callable[[], None] = target.run_scheduled_refresh
        return 0.0, task
    return _IDLE_EXIT, None


def _run() -> None:
    global _thread
    idle_since: float | None = None
    while True:
        with _cond:
            wait, task = _next_due()
            if task is None:
                if not _heap:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= _IDLE_EXIT:
                        if _thread is threading.current_thread():
                            _thread = None
                        return
                else:
                    idle_since = None
                _cond.wait(wait)
                continue
        idle_since = None
        worker.submit(task)


def _after_fork_in_child() -> None:
    global _cond, _thread
    _cond = threading.Condition()
    _thread = None
    if _latest:
        with _cond:
            _ensure_thread()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
