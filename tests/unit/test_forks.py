"""The after-fork registry: every lock it knows of is free in a forked child."""

from __future__ import annotations

import gc
import os
import weakref

import pytest

from fixtures.fakes import (
    FakeSTS,
    fake_credentials,
    fork_child,
    held_by_another_thread,
    wait_for_child,
)
from refreshsts import MemoryCache, RedisCache
from refreshsts._internal import forks
from refreshsts.hops._tokens import Reader

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_every_registered_lock_held_by_a_parent_thread_is_free_in_the_child():
    keep = [
        fake_credentials(FakeSTS()),
        MemoryCache(),
        RedisCache("redis://127.0.0.1:1/0", encrypt=False),
        Reader("test", file=None, value="token", name="token", chars=(1, 100)),
    ]
    held = [(obj, name) for obj, names in list(forks._registered.items()) for name in names]
    kinds = {type(obj).__name__ for obj, _ in held}
    assert {"Backoff", "Listeners", "_Outage", "Reader"} <= kinds

    def every_lock_is_free() -> None:
        stuck = [f"{type(o).__name__}.{n}" for o, n in held if not getattr(o, n).acquire(timeout=1)]
        assert not stuck, f"still held in the child: {stuck}"

    with held_by_another_thread(*(getattr(obj, name) for obj, name in held)):
        pid = fork_child(every_lock_is_free)
    assert wait_for_child(pid, 30, "the child hung") == 0
    assert keep


def test_a_registered_object_is_not_kept_alive_by_the_registry():
    cache = MemoryCache()
    assert cache in forks._registered
    gone = weakref.ref(cache)
    del cache
    gc.collect()
    assert gone() is None
