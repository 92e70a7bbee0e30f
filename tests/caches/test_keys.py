"""What FileCache and RedisCache share: key checks, stored names, restoring, polling."""

from __future__ import annotations

import time

import pytest

from refreshsts import ConfigurationError
from refreshsts._internal.crypto import Sealer, generate_key, parse_key
from refreshsts.caches._keys import checked, from_environment, polls, stored_name


@pytest.mark.parametrize("bad", ["../x", "*", "ABCDEF0123456789", "a" * 8, "a" * 129, None])
def test_keys_must_be_hex_digests(bad) -> None:
    with pytest.raises(ValueError, match="hex digests"):
        checked(bad)
    with pytest.raises(ValueError, match="hex digests"):
        stored_name(bad, Sealer(parse_key(generate_key())))


def test_the_stored_name_is_the_key_unless_there_is_a_sealer(key: str) -> None:
    sealer = Sealer(parse_key(generate_key()))
    assert stored_name(key, None) == key
    assert stored_name(key, sealer) == sealer.name(key) != key


def test_a_value_missing_from_the_environment_is_a_configuration_error(monkeypatch) -> None:
    monkeypatch.delenv("REFRESHSTS_TEST_VALUE", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        from_environment("REFRESHSTS_TEST_VALUE", "Cache('x')", "had a thing", "things", "it")
    assert str(caught.value) == (
        "this Cache('x') had a thing, and things never travel in a pickle: "
        "set REFRESHSTS_TEST_VALUE in this process to it"
    )
    monkeypatch.setenv("REFRESHSTS_TEST_VALUE", " value ")
    assert from_environment("REFRESHSTS_TEST_VALUE", "c", "w", "s", "v") == "value"


@pytest.mark.parametrize("jitter", [False, True])
def test_polls_try_once_at_least_then_until_the_timeout(jitter: bool) -> None:
    assert len(list(polls(0, 0.001, 0.01, jitter=jitter))) == 1
    started = time.monotonic()
    tries = len(list(polls(0.1, 0.001, 0.01, jitter=jitter)))
    assert 0.1 <= time.monotonic() - started < 0.5
    assert 5 < tries < 100
