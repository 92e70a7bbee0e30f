"""Fixtures for cache backend tests: credentials to store, cache keys, encryption keys.

The redis-server fixtures are shared from tests/conftest.py (tests/fixtures/redis_server.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from refreshsts import TemporaryCredentials
from refreshsts._internal.crypto import generate_key


def make_credentials(seconds: float = 3600.0, *, arn: str | None = None) -> TemporaryCredentials:
    """Credentials with recognisable, unique secrets that expire `seconds` from now.

    Times are whole seconds, as STS sends them, so an entry survives its ISO form unchanged.
    """
    tag = uuid.uuid4().hex
    now = float(int(time.time()))
    return TemporaryCredentials(
        access_key_id=f"ASIA{tag[:16].upper()}",
        secret_access_key=f"secret-{tag}",
        session_token=f"token-{tag}",
        expiration=now + seconds,
        issued=now,
        arn=arn or f"arn:aws:sts::123456789012:assumed-role/cache-test/{tag[:8]}",
    )


def cache_key() -> str:
    """A fresh key shaped like the ones the credentials layer makes (a sha256 hex digest)."""
    return uuid.uuid4().hex * 2


@pytest.fixture
def credentials() -> Callable[..., TemporaryCredentials]:
    return make_credentials


@pytest.fixture
def key() -> str:
    return cache_key()


@pytest.fixture
def secret_key() -> str:
    """An encryption key, as `refreshsts.generate_key()` makes them."""
    return generate_key()
