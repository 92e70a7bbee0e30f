"""Threads of one process missing the same cache entry share one refresh, and its outcome."""

from __future__ import annotations

import threading
import time

from fixtures.fakes import FakeSTS, fake_credentials
from refreshsts import MemoryCache, NoCache, OnDemandRefresh, RefreshError
from refreshsts.caches import CredentialCache

THREADS = 6


def fetch_together(sts: FakeSTS, cache: CredentialCache, wait: float = 5.0) -> list[str]:
    """Each of THREADS credentials on `cache` (one key) read at once: keys or error texts."""
    creds = [
        fake_credentials(sts, cache, strategy=OnDemandRefresh(wait_timeout=wait))
        for _ in range(THREADS)
    ]
    results = [""] * THREADS
    start = threading.Barrier(THREADS)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = creds[index].get_frozen_credentials().access_key
        except RefreshError as exc:
            results[index] = str(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def gated(sts: FakeSTS, seconds: float) -> FakeSTS:
    """`sts` answering only `seconds` after the first call arrives, so all threads pile up."""
    sts.gate = threading.Event()
    threading.Timer(seconds, sts.gate.set).start()
    return sts


def test_peers_share_the_refreshers_answer():
    sts = gated(FakeSTS(), 0.3)
    assert fetch_together(sts, MemoryCache()) == ["AKID1"] * THREADS
    assert sts.calls == 1


def test_peers_share_the_refreshers_failure_instead_of_each_calling_sts():
    sts = gated(FakeSTS(), 0.3)
    sts.fail = True
    results = fetch_together(sts, MemoryCache())
    assert all("sts unreachable" in text for text in results), results
    assert sts.calls == 1


def test_sessions_without_a_cache_each_call_sts():
    sts = gated(FakeSTS(), 0.3)
    assert sorted(fetch_together(sts, NoCache())) == sorted(f"AKID{n}" for n in range(1, 7))


def test_a_peer_gives_up_after_wait_timeout_when_the_refresher_hangs():
    sts = gated(FakeSTS(), 3.0)
    began = time.monotonic()
    results = fetch_together(sts, MemoryCache(), wait=0.5)
    assert results.count("AKID1") == 1, "the refresher itself gets its answer"
    peers = [text for text in results if text != "AKID1"]
    assert peers and all("another thread's refresh" in text for text in peers), peers
    assert time.monotonic() - began < 4
