"""AioRefreshingCredentials: reads on the loop, refreshes on a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.credentials import ReadOnlyCredentials

pytest.importorskip("aiobotocore")

from refreshsts import TemporaryCredentials
from refreshsts.aio import AioRefreshingCredentials


class FakeSync:
    """Just enough of RefreshingCredentials: records which thread read the keys."""

    label = "fake"
    credentials = None

    def __init__(self, due: bool) -> None:
        self.due = due
        self.threads: list[int] = []

    def refresh_needed(self, refresh_in=None):
        return self.due

    def get_frozen_credentials(self):
        self.threads.append(threading.get_ident())
        return ReadOnlyCredentials("AKIAFAKE", "secret", "token")


@pytest.mark.parametrize("due", [False, True])
def test_a_due_refresh_runs_off_the_event_loop(due):
    sync = FakeSync(due)
    credentials = AioRefreshingCredentials(sync)  # type: ignore[arg-type]

    async def read():
        frozen = await credentials.get_frozen_credentials()
        assert await credentials.get_access_key() == "AKIAFAKE"
        return frozen, threading.get_ident()

    frozen, loop_thread = asyncio.run(read())
    assert frozen.access_key == "AKIAFAKE"
    on_loop = [thread == loop_thread for thread in sync.threads]
    assert on_loop == [not due, not due]
    assert repr(credentials) == "<AioRefreshingCredentials fake>"


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting the jobs handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.jobs = 0

    def submit(self, fn, /, *args, **kwargs):
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


class SlowSync(FakeSync):
    """A cold RefreshingCredentials: the first fetch holds its lock for `delay` seconds."""

    def __init__(self, delay: float, failures: int = 0) -> None:
        super().__init__(due=True)
        self.delay = delay
        self.failures = failures
        self.fetches = 0
        self._lock = threading.Lock()

    def get_frozen_credentials(self):
        with self._lock:
            if self.due:
                self.fetches += 1
                time.sleep(self.delay)
                if self.failures:
                    self.failures -= 1
                    raise RuntimeError("STS said no")
                self.due = False
        return super().get_frozen_credentials()


def test_fifty_due_tasks_share_one_worker_thread_and_leave_the_executor_free():
    """The first fetch takes 1 s: the others wait on the loop, not on 49 pool threads."""
    sync = SlowSync(delay=1.0)
    credentials = AioRefreshingCredentials(sync)  # type: ignore[arg-type]
    executor = CountingExecutor()

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        readers = [asyncio.create_task(credentials.get_frozen_credentials()) for _ in range(50)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await loop.getaddrinfo("127.0.0.1", 80)
        resolved_in = time.monotonic() - started
        return await asyncio.gather(*readers), resolved_in

    frozen, resolved_in = asyncio.run(main())
    assert {f.access_key for f in frozen} == {"AKIAFAKE"}
    assert sync.fetches == 1
    assert executor.jobs == 2, "one flight for 50 tasks, one host-name lookup"
    assert resolved_in < 0.5, f"getaddrinfo queued behind the refresh for {resolved_in:.2f} s"


def test_a_failed_flight_reaches_every_waiter_and_the_next_call_tries_again():
    sync = SlowSync(delay=0.2, failures=1)
    credentials = AioRefreshingCredentials(sync)  # type: ignore[arg-type]

    async def main():
        first = await asyncio.gather(
            *(credentials.get_frozen_credentials() for _ in range(10)), return_exceptions=True
        )
        return first, await credentials.get_frozen_credentials()

    first, second = asyncio.run(main())
    assert [type(error) for error in first] == [RuntimeError] * 10
    assert second.access_key == "AKIAFAKE"
    assert sync.fetches == 2


def test_a_cancelled_waiter_leaves_the_flight_to_the_others():
    sync = SlowSync(delay=0.3)
    credentials = AioRefreshingCredentials(sync)  # type: ignore[arg-type]

    async def main():
        impatient = asyncio.create_task(credentials.get_frozen_credentials())
        patient = asyncio.create_task(credentials.get_frozen_credentials())
        await asyncio.sleep(0.05)
        impatient.cancel()
        return await patient, impatient

    frozen, impatient = asyncio.run(main())
    assert frozen.access_key == "AKIAFAKE"
    assert impatient.cancelled()
    assert sync.fetches == 1


def test_each_event_loop_has_its_own_flight():
    sync = SlowSync(delay=0.3)
    credentials = AioRefreshingCredentials(sync)  # type: ignore[arg-type]
    results: list[str] = []

    def run_loop() -> None:
        frozen = asyncio.run(credentials.get_frozen_credentials())
        results.append(frozen.access_key)

    threads = [threading.Thread(target=run_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["AKIAFAKE"] * 3
    assert sync.fetches == 1, "the sync lock still makes one fetch for every loop"


def test_the_account_id_is_the_credentials_own_even_without_an_arn():
    class SessionTokenKeys(FakeSync):
        def get_temporary_credentials(self):
            # GetSessionToken: no ARN; the account comes from the signer
            return TemporaryCredentials(
                "ASIAFAKE",
                "secret",
                "token",
                time.time() + 900,
                0.0,
                None,
                account_id="123456789012",
            )

    credentials = AioRefreshingCredentials(SessionTokenKeys(due=False))  # type: ignore[arg-type]
    assert asyncio.run(credentials.get_account_id()) == "123456789012"
