"""What a forked child must not inherit: locks other threads held, connections the parent pools.

Only the thread that called `os.fork()` lives on in the child. A lock another thread held at
that moment stays held for ever there, and a pooled keep-alive socket is shared with the
parent: two processes writing requests on one socket read each other's answers, secrets
included. Objects holding either register here, weakly, and are reset in the child before
it runs any code of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from botocore.httpsession import URLLib3Session
from urllib3 import PoolManager

__all__ = ["drop_connections", "on_fork_in_child", "reset_in_child"]

logger = logging.getLogger("refreshsts")


_registered: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def reset_in_child(obj: object, *locks: str) -> None:
    """In every forked child while `obj` lives, give it a new `threading.Lock` under each
    attribute named in `locks`, then call its ``_after_fork_in_child()`` if it has one."""
    _registered[obj] = locks


def on_fork_in_child(reset: Callable[[], None]) -> None:
    """Run module-level `reset` in every forked child (where the platform can fork)."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset)


def drop_connections(client: Any) -> None:
    """Give a botocore client an empty connection pool; the parent's sockets stay the parent's.

    The old pool is dropped, not closed: closing takes urllib3's pool locks, which a parent
    thread may have held, and closing the child's copy of a socket would not free it anyway.
    """
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if not isinstance(http, URLLib3Session):
        return
    try:
        manager = PoolManager(**http._get_pool_manager_kwargs())
        manager.pool_classes_by_scheme = http._pool_classes_by_scheme
        http._manager = manager
        http._proxy_managers = {}
    except Exception:  # a botocore whose session is built otherwise: keep going
        logger.debug("could not drop the connection pool of %r after fork", client, exc_info=True)


def _after_fork_in_child() -> None:
    for obj, locks in list(_registered.items()):
        try:
            for name in locks:
                setattr(obj, name, threading.Lock())
            reset = getattr(obj, "_after_fork_in_child", None)
            if reset is not None:
                reset()
        except Exception:
            logger.debug("resetting %r after fork failed", obj, exc_info=True)


on_fork_in_child(_after_fork_in_child)
