"""A small pool that runs advisory refreshes so the request that noticed them does not wait."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["submit"]

_MAX_WORKERS = 4
_pool: ThreadPoolExecutor | None = None
_pid = 0
_lock = threading.Lock()


def submit(task: Callable[[], None]) -> None:
    """Run `task` on the process's refresh pool, re-created after a fork."""
    global _pool, _pid
    with _lock:
        if _pool is None or _pid != os.getpid():
            _pool = ThreadPoolExecutor(_MAX_WORKERS, thread_name_prefix="refreshsts-refresh")
            _pid = os.getpid()
        pool = _pool
    pool.submit(task)


def _after_fork_in_child() -> None:
    global _pool, _lock
    _pool = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
