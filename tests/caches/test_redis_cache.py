"""RedisCache against a real redis-server: sealing, expiry, the leased lock, and Redis trouble."""

from __future__ import annotations

import functools
import logging
import pickle
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import single_flight

from refreshsts import ConfigurationError
from refreshsts._internal.crypto import KEY_ENV, Sealer, encode_entry, generate_key, parse_key
from refreshsts.caches import CredentialCache
from refreshsts.caches.redis import RedisCache

FALLBACK = "fall back to calling STS directly"


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def cache(redis_url: str, secret_key: str) -> RedisCache:
    return RedisCache(redis_url, key=secret_key)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="refreshsts")
    return caplog


def secrets_of(entry) -> list[str]:
    return [entry.access_key_id, entry.secret_access_key, entry.session_token, entry.arn]


# -- configuration, refused before any network call ------------------------------------------

UNREACHABLE = "redis://127.0.0.1:9/0"


def test_a_key_is_required_unless_encryption_is_declined() -> None:
    with pytest.raises(ConfigurationError, match="encrypt=False") as caught:
        RedisCache(UNREACHABLE)
    assert KEY_ENV in str(caught.value)
    assert not RedisCache(UNREACHABLE, encrypt=False).encrypted


def test_the_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, generate_key())
    assert RedisCache(UNREACHABLE).encrypted


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": "bad", "encrypt": True}, "usable cache key"),
        ({"key": generate_key(), "encrypt": False}, "choose one"),
        ({"encrypt": False, "namespace": "has space"}, "namespace="),
        ({"encrypt": False, "namespace": ""}, "namespace="),
        ({"encrypt": False, "lock_lease": 0}, "positive"),
        ({"encrypt": False, "socket_timeout": -1}, "positive"),
        ({"encrypt": False, "url_or_client": 6379}, "not int"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict, message: str) -> None:
    options = {"url_or_client": UNREACHABLE, **options}
    with pytest.raises(ConfigurationError, match=message):
        RedisCache(**options)


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'refreshsts\[redis\]'"):
        RedisCache(UNREACHABLE, key=generate_key())


def test_repr_hides_the_password_and_the_key() -> None:
    secret_key = generate_key()
    cache = RedisCache("redis://app:hunter2@127.0.0.1:6390/0", key=secret_key)
    assert "hunter2" not in repr(cache)
    assert secret_key not in repr(cache)
    assert repr(cache) == (
        "RedisCache('redis://app:***@127.0.0.1:6390/0', namespace='refreshsts', encrypted=True)"
    )


# -- the protocol ------------------------------------------------------------------------------


def test_implements_the_protocol(cache: RedisCache) -> None:
    assert isinstance(cache, CredentialCache)


def test_roundtrip_shared_by_instances(cache, redis_url, secret_key, credentials, key) -> None:
    entry = credentials()
    assert cache.get(key) is None
    cache.set(key, entry)
    assert cache.get(key) == entry
    assert RedisCache(redis_url, key=secret_key).get(key) == entry
    cache.delete(key)
    assert cache.get(key) is None


def test_values_and_names_in_redis_hold_no_secret(cache, raw, credentials, key) -> None:
    entry = credentials()
    cache.set(key, entry)
    with cache.lock(key, timeout=1):
        names = raw.keys("*")
        values = [raw.get(name) for name in names]
    assert sorted(names) == [f"refreshsts:entry:{key}".encode(), f"refreshsts:lock:{key}".encode()]
    for secret in secrets_of(entry):
        for stored in [*names, *values]:
            assert secret.encode() not in stored


def test_values_expire_with_the_credentials(cache, raw, credentials, key) -> None:
    cache.set(key, credentials(seconds=5))
    assert 3000 < raw.pttl(f"refreshsts:entry:{key}") <= 5000


def test_expired_credentials_are_not_stored(cache, raw, credentials, key) -> None:
    cache.set(key, credentials(seconds=-1))
    assert raw.exists(f"refreshsts:entry:{key}") == 0


def test_an_expired_entry_still_in_redis_is_a_miss(cache, raw, secret_key, credentials, key):
    stale = encode_entry(credentials(seconds=-1), key, Sealer(parse_key(secret_key)))
    raw.set(f"refreshsts:entry:{key}", stale)
    assert cache.get(key) is None


def test_namespaces_keep_caches_apart(redis_url, secret_key, credentials, key) -> None:
    first = RedisCache(redis_url, key=secret_key, namespace="team-a")
    second = RedisCache(redis_url, key=secret_key, namespace="team-b")
    first.set(key, credentials())
    assert second.get(key) is None


def test_plaintext_mode_stores_the_shared_entry_format(redis_url, raw, credentials, key) -> None:
    cache = RedisCache(redis_url, encrypt=False)
    entry = credentials()
    cache.set(key, entry)
    assert raw.get(f"refreshsts:entry:{key}") == encode_entry(entry, key, None)
    assert cache.get(key) == entry


def test_a_client_object_works_even_with_decoded_responses(redis_url, secret_key, credentials, key):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    cache = RedisCache(client, key=secret_key)
    entry = credentials()
    cache.set(key, entry)
    assert cache.get(key) == entry
    with cache.lock(key, timeout=1) as held:
        assert held
    client.close()


@pytest.mark.parametrize("bad", ["../x", "*", "ABCDEF0123456789", "a" * 8])
def test_keys_must_be_hex_digests(cache: RedisCache, bad: str) -> None:
    with pytest.raises(ValueError, match="hex digests"):
        cache.get(bad)


# -- entries that are not trusted ---------------------------------------------------------------


def test_a_wrong_key_is_a_miss_and_a_warning(redis_url, credentials, key, warnings) -> None:
    RedisCache(redis_url, key=generate_key()).set(key, credentials())
    assert RedisCache(redis_url, key=generate_key()).get(key) is None
    assert "authentication failed" in warnings.text


def test_an_entry_moved_to_another_key_does_not_open(cache, raw, credentials, key, warnings):
    cache.set(key, credentials())
    moved = "ab" * 32
    raw.rename(f"refreshsts:entry:{key}", f"refreshsts:entry:{moved}")
    assert cache.get(moved) is None
    assert "authentication failed" in warnings.text


def test_planted_plaintext_is_refused_by_an_encrypted_cache(cache, raw, credentials, key, warnings):
    planted = credentials()
    raw.set(f"refreshsts:entry:{key}", encode_entry(planted, key, None))
    assert cache.get(key) is None
    assert "not encrypted" in warnings.text
    for secret in secrets_of(planted):
        assert secret not in warnings.text


def test_corrupt_values_are_misses_logged_without_contents(cache, raw, key, warnings) -> None:
    raw.set(f"refreshsts:entry:{key}", b"SENTINEL-CONTENTS {")
    assert cache.get(key) is None
    assert "corrupt" in warnings.text
    assert "SENTINEL" not in warnings.text


# -- the lock ------------------------------------------------------------------------------------


def test_the_lock_excludes_others_until_released(cache: RedisCache, key: str) -> None:
    with cache.lock(key, timeout=1) as held:
        assert held
        started = time.monotonic()
        with cache.lock(key, timeout=0.2) as other:
            assert not other
        assert 0.2 <= time.monotonic() - started < 1.0
        with cache.lock("ab" * 32, timeout=0) as unrelated:
            assert unrelated
    with cache.lock(key, timeout=0) as after:
        assert after


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(cache: RedisCache, key: str) -> None:
    released = threading.Event()

    def hold() -> None:
        with cache.lock(key, timeout=1):
            time.sleep(0.15)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.05)
    with cache.lock(key, timeout=5) as got:
        assert got
        assert released.is_set()
    holder.join()


def test_the_lease_frees_the_lock_of_a_dead_holder(cache: RedisCache, raw, key: str) -> None:
    raw.set(f"refreshsts:lock:{key}", b"token-of-a-dead-process", px=200)
    started = time.monotonic()
    with cache.lock(key, timeout=5) as got:
        assert got
    assert 0.1 < time.monotonic() - started < 2


def test_a_holder_whose_lease_ran_out_does_not_free_the_next_holder(
    redis_url: str, secret_key: str, raw, key: str
) -> None:
    short = RedisCache(redis_url, key=secret_key, lock_lease=0.1)
    with short.lock(key, timeout=0) as first:
        assert first
        time.sleep(0.2)
        raw.set(f"refreshsts:lock:{key}", b"the-next-holder", px=5000, nx=True)
    assert raw.get(f"refreshsts:lock:{key}") == b"the-next-holder"


# -- pickling ------------------------------------------------------------------------------------


def test_a_pickle_carries_the_url_and_no_key(redis_url, credentials, key, monkeypatch) -> None:
    secret_key = generate_key()
    cache = RedisCache(redis_url, key=secret_key, namespace="app", lock_lease=5.0)
    entry = credentials()
    cache.set(key, entry)
    data = pickle.dumps(cache)
    assert secret_key.encode() not in data
    assert parse_key(secret_key) not in data

    with pytest.raises(ConfigurationError, match=f"set {KEY_ENV}"):
        pickle.loads(data)
    monkeypatch.setenv(KEY_ENV, secret_key)
    restored = pickle.loads(data)
    assert (restored.url, restored.namespace, restored.lock_lease) == (redis_url, "app", 5.0)
    assert restored.get(key) == entry


def test_an_unencrypted_cache_pickles_without_a_key(redis_url: str) -> None:
    restored = pickle.loads(pickle.dumps(RedisCache(redis_url, encrypt=False)))
    assert not restored.encrypted


def test_a_cache_built_on_a_client_object_says_to_pass_a_url(redis_url: str) -> None:
    cache = RedisCache(redis.Redis.from_url(redis_url), encrypt=False)
    with pytest.raises(TypeError, match="build it from a URL"):
        pickle.dumps(cache)
    assert repr(cache) == "RedisCache(<Redis client>, namespace='refreshsts', encrypted=False)"


# -- Redis trouble never stops the application ------------------------------------------------


def test_a_killed_server_degrades_every_operation(disposable_redis, credentials, key, warnings):
    cache = RedisCache(disposable_redis.url, key=generate_key())
    cache.set(key, credentials())
    assert cache.get(key) is not None
    with cache.lock(key, timeout=1) as held:
        assert held
        disposable_redis.kill()
    started = time.monotonic()
    assert cache.get(key) is None
    cache.set(key, credentials())
    cache.delete(key)
    with cache.lock(key, timeout=5) as held:
        assert not held
    time.sleep(cache.outage_pause)
    assert cache.get(key) is None
    with cache.lock(key, timeout=5) as held:
        assert not held
    assert time.monotonic() - started < cache.outage_pause + 1
    fallbacks = [record for record in warnings.records if FALLBACK in record.getMessage()]
    assert len(fallbacks) == 1
    assert "ConnectionError" in fallbacks[0].getMessage()


def test_a_server_that_never_answers_costs_one_socket_timeout(credentials, key, warnings):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        cache = RedisCache(url, key=generate_key(), socket_timeout=0.2)
        started = time.monotonic()
        assert cache.get(key) is None
        assert time.monotonic() - started < 1.0
        cache.set(key, credentials())
        with cache.lock(key, timeout=5) as held:
            assert not held
        assert time.monotonic() - started < 1.0
    assert "TimeoutError" in warnings.text
    assert FALLBACK in warnings.text


def test_after_a_failure_redis_is_left_alone_briefly_then_tried_again(
    cache: RedisCache, credentials, key, monkeypatch, warnings
) -> None:
    entry = credentials()
    cache.set(key, entry)
    real_get = cache._client.get
    calls: list[str] = []

    def flaky(name: str) -> bytes | None:
        calls.append(name)
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset")
        return real_get(name)

    monkeypatch.setattr(cache._client, "get", flaky)
    monkeypatch.setattr(cache._outage, "pause", 0.1)
    assert cache.get(key) is None
    assert cache.get(key) is None
    assert len(calls) == 1
    time.sleep(0.15)
    assert cache.get(key) == entry
    assert len(calls) == 2
    assert FALLBACK in warnings.text


@pytest.mark.slow
def test_eight_processes_standing_in_for_hosts_fetch_once(
    redis_url: str, tmp_path: Path, key: str
) -> None:
    build = functools.partial(RedisCache, key=generate_key())
    counter = tmp_path / "fetches"
    seen = single_flight.run_cold_start(build, (redis_url,), key, counter, n=8)
    assert single_flight.fetches(counter) == 1
    assert sorted(kind for kind, _ in seen).count("fetched") == 1
    assert len({access_key for _, access_key in seen}) == 1
