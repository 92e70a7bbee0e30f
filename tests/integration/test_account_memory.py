"""Memory per live account session, and its bound, by tracemalloc in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.moto_server import MotoServer

WORKER = Path(__file__).with_name("account_memory.py")
GOAL_BYTES = 128 * 1024
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def many_accounts_server() -> Iterator[MotoServer]:
    """A moto server of its own, auth off and without managed policies: moto then meets
    hundreds of accounts in seconds instead of minutes."""
    with MotoServer(managed_policies=False) as server:
        yield server


def measure(mode: str, count: int, server: MotoServer) -> dict[str, Any]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name != "MOTO_ACCOUNT_ID"
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=server.url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    )
    done = subprocess.run(
        [sys.executable, str(WORKER), mode, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
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
