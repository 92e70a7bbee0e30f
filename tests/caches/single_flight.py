"""What each spawned process does in the single-flight tests, importable by a spawn child.

A process reads the cache, takes the lock, reads again and only then "fetches" (counting the
fetch in a file under its own flock, standing in for an STS call) and stores the result,
which is the order `RefreshingCredentials._load` follows.
"""

from __future__ import annotations

import fcntl
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixtures.spawned import run_together
from refreshsts import TemporaryCredentials
from refreshsts.caches import CredentialCache

FETCH_SECONDS = 0.2


def count_fetch(counter: Path) -> None:
    with counter.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        done = int(handle.read() or 0)
        handle.seek(0)
        handle.truncate()
        handle.write(str(done + 1))
        handle.flush()


def fetches(counter: Path) -> int:
    return int(counter.read_text() or 0) if counter.exists() else 0


def get_lock_get_fetch_set(cache: CredentialCache, key: str, counter: Path) -> tuple[str, str]:
    entry = cache.get(key)
    if entry is not None:
        return "cached", entry.access_key_id
    with cache.lock(key, timeout=30) as acquired:
        entry = cache.get(key)
        if entry is not None:
            return "cached-after-wait", entry.access_key_id
        count_fetch(counter)
        time.sleep(FETCH_SECONDS)
        now = time.time()
        tag = uuid.uuid4().hex
        entry = TemporaryCredentials(
            access_key_id=f"ASIA{tag[:16].upper()}",
            secret_access_key=f"secret-{tag}",
            session_token=f"token-{tag}",
            expiration=now + 3600,
            issued=now,
        )
        cache.set(key, entry)
        return ("fetched" if acquired else "fetched-without-lock"), entry.access_key_id


def worker(
    build: Callable[..., CredentialCache],
    args: tuple[Any, ...],
    key: str,
    counter: str,
    barrier: Any,
    results: Any,
) -> None:
    cache = build(*args)
    barrier.wait(timeout=60)
    results.put(get_lock_get_fetch_set(cache, key, Path(counter)))


def run_cold_start(
    build: Callable[..., CredentialCache], args: tuple[Any, ...], key: str, counter: Path, n: int
) -> list[tuple[str, str]]:
    """Start `n` spawned processes at once on a cold cache; what each one saw."""
    return run_together(worker, [(build, args, key, str(counter))] * n)
