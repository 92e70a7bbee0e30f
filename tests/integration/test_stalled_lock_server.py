"""A cache lock whose holder stalls starves nobody: cold threads share one STS call in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from refreshsts import (
    AssumeRole,
    CredentialCache,
    FileCache,
    OnDemandRefresh,
    RedisCache,
    RefreshableSession,
)

PROFILE = "ststestprofile"
THREADS = 8
WAIT = 6.0

HOLD_FLOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(300)
"""


def session_on(world, cache: CredentialCache) -> RefreshableSession:
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name="stalled"),
        source=PROFILE,
        region="us-west-2",
        cache=cache,
        refresh=OnDemandRefresh(wait_timeout=WAIT),
    )


@pytest.fixture
def stopped_flock_holder(world, proxied_aws_env, tmp_path) -> Iterator[FileCache]:
    """A FileCache whose lock on the test's entry is held by a process stopped with SIGSTOP."""
    cache = FileCache(tmp_path / "cache")
    key = session_on(world, cache)._chain.cache_key(0)
    lock_file = cache.directory / f"{cache._stored(key)}.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FLOCK, str(lock_file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        os.kill(holder.pid, signal.SIGSTOP)
        yield cache
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)


@pytest.fixture
def planted_redis_lock(world, proxied_aws_env, redis_url, redis_server) -> RedisCache:
    """A RedisCache whose lock key for the test's entry someone else set, with a long lease."""
    cache = RedisCache(redis_url, encrypt=False)
    key = session_on(world, cache)._chain.cache_key(0)
    client = redis_server.client()
    client.set(f"{cache.namespace}:lock:{cache._stored(key)}", "not-yours", px=300_000)
    client.close()
    return cache


def cold_threads(sessions: list[RefreshableSession]) -> list[tuple[str, float]]:
    """Each session's keys fetched on its own thread, all at once: (key or error, seconds)."""
    results: list[Any] = [None] * len(sessions)
    start = threading.Barrier(len(sessions))

    def run(index: int) -> None:
        start.wait()
        began = time.monotonic()
        try:
            found = sessions[index].get_credentials().get_frozen_credentials().access_key
        except Exception as exc:
            found = f"{type(exc).__name__}: {exc}"
        results[index] = (found, time.monotonic() - began)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * WAIT)
    return results


@pytest.mark.parametrize("stall", ["stopped_flock_holder", "planted_redis_lock"])
@pytest.mark.parametrize("sharing", ["one session", "a session per thread"])
def test_cold_threads_get_credentials_before_wait_timeout_with_one_sts_call(
    world, proxied_aws_env, sts_proxy, request, stall, sharing
):
    cache = request.getfixturevalue(stall)
    if sharing == "one session":
        sessions = [session_on(world, cache)] * THREADS
    else:
        sessions = [session_on(world, cache) for _ in range(THREADS)]
    results = cold_threads(sessions)
    keys = {found for found, _ in results}
    assert len(keys) == 1 and next(iter(keys)).startswith("ASIA"), keys
    slowest = max(seconds for _, seconds in results)
    assert slowest < WAIT, f"the slowest thread took {slowest:.2f} s of a {WAIT} s wait_timeout"
    assert slowest >= WAIT / 2 - 0.1, "the lock was waited for, part of the budget"
    assert sts_proxy.calls("AssumeRole") == 1
    assert cache.get(sessions[0]._chain.cache_key(0)) is not None, "the answer was stored"
