"""AioRefreshingCredentials: reads on the loop, refreshes on a worker thread."""

from __future__ import annotations

import asyncio
import threading

import pytest
from botocore.credentials import ReadOnlyCredentials

pytest.importorskip("aiobotocore")

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
