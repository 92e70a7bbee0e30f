"""Memory per live account session, and its bound, by tracemalloc in a process of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from account_memory import run

from fixtures.moto_server import MotoServer

GOAL_BYTES = 128 * 1024

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def many_accounts_server() -> Iterator[MotoServer]:
    """A moto server of its own, auth off and without managed policies: moto then meets
    hundreds of accounts in seconds instead of minutes."""
    with MotoServer(managed_policies=False) as server:
        yield server


def measure(mode: str, count: int, server: MotoServer) -> dict[str, Any]:
    result = run(mode, count, server.url, timeout=300)
    assert result["failures"] == []
    return result


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_live_account_session_with_an_s3_client_takes_at_most_128_kib(
    many_accounts_server: MotoServer,
) -> None:
    result = measure("refreshsts", 40, many_accounts_server)
    assert result["bytes_per_session"] <= GOAL_BYTES, result


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_600_accounts_through_16_sessions_grow_by_at_most_16_sessions(
    many_accounts_server: MotoServer,
) -> None:
    result = measure("bounded", 600, many_accounts_server)
    assert result["live_sessions"] == 16
    assert result["growth_bytes"] <= 16 * GOAL_BYTES, result
