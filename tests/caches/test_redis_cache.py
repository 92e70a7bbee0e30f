"""RedisCache against a real redis-server: sealing, expiry, the leased lock, and Redis trouble."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
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

import refreshsts.caches.redis as redis_module
from fixtures.fakes import wait_for_child
from refreshsts import ConfigurationError
from refreshsts._internal.crypto import (
    KEY_ENV,
    MAX_ENTRY_BYTES,
    Sealer,
    encode_entry,
    generate_key,
    parse_key,
)
from refreshsts.caches import CredentialCache
from refreshsts.caches.redis import URL_ENV, RedisCache, _without_password

FALLBACK = "fall back to calling STS directly"


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(URL_ENV, raising=False)


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


def entry_name(cache: RedisCache, key: str) -> str:
    """The Redis key holding the entry of `key` (an HMAC of it when encrypted)."""
    return cache._name("entry", cache._stored(key))


def lock_name(cache: RedisCache, key: str) -> str:
    return cache._name("lock", cache._stored(key))


def with_timeouts(**options) -> dict:
    return {"socket_timeout": 2, "socket_connect_timeout": 2, **options}


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
        ({"encrypt": False, "lock_lease": 0}, "^lock_lease=0: .*positive"),
        ({"encrypt": False, "socket_timeout": -1}, "^socket_timeout=-1: .*positive"),
        ({"encrypt": False, "socket_timeout": float("nan")}, "^socket_timeout=nan: "),
        ({"encrypt": False, "lock_lease": "30"}, "^lock_lease must be a number of seconds"),
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


@pytest.mark.parametrize(
    ("options", "found"),
    [
        (with_timeouts(socket_timeout=None), "socket_timeout=None"),
        (with_timeouts(socket_timeout=None, socket_connect_timeout=None), "socket_timeout=None"),
    ],
)
def test_a_client_that_could_wait_forever_is_refused(options: dict, found: str) -> None:
    client = redis.Redis(host="127.0.0.1", port=9, **options)
    with pytest.raises(ConfigurationError, match=found) as caught:
        RedisCache(client, encrypt=False)
    message = str(caught.value)
    assert "socket_connect_timeout" in message
    assert "URL" in message


def test_a_client_whose_timeouts_cannot_be_read_is_refused(redis_url: str) -> None:
    class Wrapper:
        """Has the four methods a RedisCache calls, and nothing that shows its timeouts."""

        def __init__(self) -> None:
            self._client = redis.Redis.from_url(redis_url)
            self.get, self.set = self._client.get, self._client.set
            self.delete, self.register_script = self._client.delete, self._client.register_script

    with pytest.raises(ConfigurationError, match="socket_timeout cannot be read"):
        RedisCache(Wrapper(), encrypt=False)


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
    stored = cache._stored(key)
    assert sorted(names) == [
        f"refreshsts:entry:{stored}".encode(),
        f"refreshsts:lock:{stored}".encode(),
        b"refreshsts:meta:key-fingerprint",
    ]
    for secret in secrets_of(entry):
        for stored in [*names, *values]:
            assert secret.encode() not in stored


def test_encrypted_names_are_keyed_digests_of_the_cache_key(
    redis_url, raw, secret_key, credentials, key
) -> None:
    cache = RedisCache(redis_url, key=secret_key)
    entry = credentials()
    cache.set(key, entry)
    with cache.lock(key, timeout=1) as held:
        assert held
        names = sorted(name.decode() for name in raw.keys("*"))
    stored = cache._stored(key)
    assert names == [
        f"refreshsts:entry:{stored}",
        f"refreshsts:lock:{stored}",
        "refreshsts:meta:key-fingerprint",
    ]
    assert len(stored) == 64
    assert all(key not in name for name in names)
    assert RedisCache(redis_url, key=secret_key).get(key) == entry
    other = RedisCache(redis_url, key=generate_key())
    assert other._stored(key) != stored
    assert other.get(key) is None


def test_unencrypted_names_are_the_cache_key(redis_url, raw, credentials, key) -> None:
    cache = RedisCache(redis_url, encrypt=False)
    cache.set(key, credentials())
    assert raw.keys("*") == [f"refreshsts:entry:{key}".encode()]


def test_values_expire_with_the_credentials(cache, raw, credentials, key) -> None:
    cache.set(key, credentials(seconds=5))
    assert 3000 < raw.pttl(entry_name(cache, key)) <= 5000


def test_expired_credentials_are_not_stored(cache, raw, credentials, key) -> None:
    cache.set(key, credentials(seconds=-1))
    assert raw.keys("*") == []


def test_an_expired_entry_still_in_redis_is_a_miss(cache, raw, secret_key, credentials, key):
    sealer = Sealer(parse_key(secret_key))
    stale = encode_entry(credentials(seconds=-1), sealer.name(key), sealer)
    raw.set(entry_name(cache, key), stale)
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
    client = redis.Redis.from_url(redis_url, **with_timeouts(decode_responses=True))
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


def test_another_key_misses_and_leaves_the_entry_alone(
    redis_url, credentials, key, warnings
) -> None:
    first, second = (
        RedisCache(redis_url, key=generate_key()),
        RedisCache(redis_url, key=generate_key()),
    )
    entry, other = credentials(), credentials()
    first.set(key, entry)
    assert second.get(key) is None
    assert "written with another encryption key; they are misses" in warnings.text
    warnings.clear()
    assert second.get(key) is None
    assert warnings.text == "", "the mismatch is told once per cache"
    second.set(key, other)
    assert (first.get(key), second.get(key)) == (entry, other)


def test_an_entry_moved_to_another_key_does_not_open(cache, raw, credentials, key, warnings):
    cache.set(key, credentials())
    moved = "ab" * 32
    raw.rename(entry_name(cache, key), entry_name(cache, moved))
    assert cache.get(moved) is None
    assert "authentication failed" in warnings.text


def test_planted_plaintext_is_refused_by_an_encrypted_cache(cache, raw, credentials, key, warnings):
    planted = credentials()
    raw.set(entry_name(cache, key), encode_entry(planted, key, None))
    assert cache.get(key) is None
    assert "not encrypted" in warnings.text
    for secret in secrets_of(planted):
        assert secret not in warnings.text


def test_corrupt_values_are_misses_logged_without_contents(cache, raw, key, warnings) -> None:
    raw.set(entry_name(cache, key), b"SENTINEL-CONTENTS {")
    assert cache.get(key) is None
    assert "corrupt" in warnings.text
    assert "SENTINEL" not in warnings.text


def sent_bytes(raw: redis.Redis) -> int:
    return int(raw.info("stats")["total_net_output_bytes"])


def test_an_oversized_entry_is_refused_without_downloading_it(cache, raw, key, warnings) -> None:
    raw.set(entry_name(cache, key), b"SENTINEL" + b"x" * MAX_ENTRY_BYTES)
    before = sent_bytes(raw)
    assert cache.get(key) is None
    assert sent_bytes(raw) - before < 4096, "the value stayed in Redis"
    assert f"over the {MAX_ENTRY_BYTES} allowed" in warnings.text
    assert "SENTINEL" not in warnings.text


def test_listing_leaves_an_oversized_entry_in_redis(cache, raw, credentials, key, warnings):
    listed = credentials()
    cache.set(key, listed)
    planted = cache._name("entry", "ab" * 32)
    raw.set(planted, b"SENTINEL" + b"x" * 4 * MAX_ENTRY_BYTES)
    before = sent_bytes(raw)
    entries = list(cache.entries())
    assert sent_bytes(raw) - before < 16384, "the planted value stayed in Redis"
    assert [entry.arn for entry in entries] == [listed.arn]
    assert cache.count() == 2, "counted, so it can be listed as unreadable"
    assert f"over the {MAX_ENTRY_BYTES} allowed" in warnings.text
    assert "SENTINEL" not in warnings.text


def test_a_key_of_another_type_is_a_miss_not_an_outage(cache, raw, credentials, key, warnings):
    raw.rpush(entry_name(cache, key), "SENTINEL")
    assert cache.get(key) is None
    assert "not a string" in warnings.text
    assert FALLBACK not in warnings.text
    raw.delete(entry_name(cache, key))
    entry = credentials()
    cache.set(key, entry)
    assert cache.get(key) == entry


def test_an_older_entry_put_back_is_refused(
    redis_url, raw, secret_key, credentials, key, warnings
) -> None:
    writer, reader = RedisCache(redis_url, key=secret_key), RedisCache(redis_url, key=secret_key)
    older, newer = credentials(seconds=3000), credentials()
    name = entry_name(writer, key)
    writer.set(key, older)
    replayed = raw.get(name)
    writer.set(key, newer)
    assert reader.get(key) == newer
    raw.set(name, replayed)
    assert reader.get(key) is None
    assert RedisCache(redis_url, key=secret_key).get(key) is None, "per process, not per cache"
    assert "expires before one this process has already read" in warnings.text
    for secret in secrets_of(older):
        assert secret not in warnings.text
    writer.set(key, newer)
    assert reader.get(key) == newer


def test_an_older_entry_put_back_after_our_own_write_is_refused(
    cache, raw, credentials, key
) -> None:
    older = credentials(seconds=3000)
    cache.set(key, older)
    replayed = raw.get(entry_name(cache, key))
    cache.set(key, credentials())
    raw.set(entry_name(cache, key), replayed)
    assert cache.get(key) is None


def test_a_newer_entry_from_a_host_whose_clock_is_behind_is_accepted(
    redis_url, raw, secret_key, credentials, key, warnings
) -> None:
    """Order is STS's (the sealed expiration), not the wall clock of whichever host fetched."""
    writer, reader = RedisCache(redis_url, key=secret_key), RedisCache(redis_url, key=secret_key)
    first = credentials(seconds=3000)
    behind = dataclasses.replace(credentials(), issued=first.issued - 600)
    same_expiry = dataclasses.replace(behind, issued=behind.issued - 60)
    name = entry_name(writer, key)
    writer.set(key, first)
    replayed = raw.get(name)
    assert reader.get(key) == first
    writer.set(key, behind)
    assert reader.get(key) == behind, "a later expiration is newer, whatever it says of issued"
    writer.set(key, same_expiry)
    assert reader.get(key) == same_expiry, "the same expiration is not older"
    raw.set(name, replayed)
    assert reader.get(key) is None, "a replayed entry expires earlier: still refused"
    assert "expires before one this process has already read" in warnings.text


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
    raw.set(lock_name(cache, key), b"token-of-a-dead-process", px=200)
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
        raw.set(lock_name(short, key), b"the-next-holder", px=5000, nx=True)
    assert raw.get(lock_name(short, key)) == b"the-next-holder"


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
    cache = RedisCache(redis.Redis.from_url(redis_url, **with_timeouts()), encrypt=False)
    with pytest.raises(TypeError, match="build it from a URL"):
        pickle.dumps(cache)
    assert repr(cache) == "RedisCache(<Redis client>, namespace='refreshsts', encrypted=False)"


PASSWORD_URLS = [
    "redis://app:hunter2@127.0.0.1:9/0",
    "redis://:hunter2@127.0.0.1:9/0",
    "redis://127.0.0.1:9/0?password=hunter2",
    "redis://127.0.0.1:9/0?db=0&password=hunter2",
]


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://app:hunter2@127.0.0.1:9/0", "redis://app:***@127.0.0.1:9/0"),
        ("rediss://:hunter2@[::1]:6380/2", "rediss://:***@[::1]:6380/2"),
        ("redis://127.0.0.1:9/0?password=hunter2", "redis://127.0.0.1:9/0?password=***"),
        (
            "redis://u:p%40ss@h/0?db=1&pass%77ord=hunter2&ssl_password=hunter2",
            "redis://u:***@h/0?db=1&pass%77ord=***&ssl_password=***",
        ),
        ("unix://:hunter2@/run/redis.sock?db=0", "unix://:***@/run/redis.sock?db=0"),
        ("redis://127.0.0.1:9/0?db=0", "redis://127.0.0.1:9/0?db=0"),
        ("redis://[::1", "<unparsable redis URL>"),
    ],
)
def test_passwords_are_redacted_in_the_user_info_and_the_query(url: str, redacted: str) -> None:
    assert _without_password(url)[0] == redacted


@pytest.mark.parametrize("url", PASSWORD_URLS)
def test_a_password_never_shows_in_the_repr_or_the_outage_warning(url: str, warnings) -> None:
    cache = RedisCache(url, encrypt=False)
    assert "hunter2" not in repr(cache)
    assert "***" in repr(cache)
    assert cache.get("ab" * 32) is None
    assert FALLBACK in warnings.text
    assert "hunter2" not in warnings.text


@pytest.mark.parametrize("url", PASSWORD_URLS)
def test_a_pickle_never_carries_the_password(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_key = generate_key()
    data = pickle.dumps(RedisCache(url, key=secret_key, namespace="app"))
    assert b"hunter2" not in data
    monkeypatch.setenv(KEY_ENV, secret_key)
    with pytest.raises(ConfigurationError, match=f"set {URL_ENV} in this process") as caught:
        pickle.loads(data)
    assert "hunter2" not in str(caught.value)
    monkeypatch.setenv(URL_ENV, url)
    restored = pickle.loads(data)
    assert (restored.url, restored.namespace, restored.encrypted) == (url, "app", True)


def test_a_url_without_a_password_travels_whole(redis_url, monkeypatch) -> None:
    monkeypatch.setenv(URL_ENV, "redis://elsewhere:6379/0")
    restored = pickle.loads(pickle.dumps(RedisCache(redis_url, encrypt=False)))
    assert restored.url == redis_url


def test_a_forked_child_leaves_the_lock_to_its_parent(cache: RedisCache, raw, key: str) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    pid = -1
    try:
        with cache.lock(key, timeout=1) as held:
            assert held
            pid = os.fork()
            if pid > 0:  # the child leaves the block first, as the parent's code would
                assert wait_for_child(pid, 10, "the forked child hung") == 0
                assert raw.get(lock_name(cache, key)) is not None
    finally:
        if pid == 0:
            os._exit(0)
    assert raw.get(lock_name(cache, key)) is None


def test_a_child_forked_while_the_newest_entry_record_is_busy_can_still_read(
    cache: RedisCache, credentials, key: str
) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    entry = credentials()
    cache.set(key, entry)
    with redis_module._NEWEST._lock:  # as if another thread were reading an entry
        pid = os.fork()
        if pid == 0:
            try:
                os._exit(0 if cache.get(key) == entry else 1)
            finally:
                os._exit(2)
    assert wait_for_child(pid, 10, "the forked child hung on the parent's lock") == 0


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
    real_get = cache._bounded_get
    calls: list[list[str]] = []

    def flaky(keys: list[str], args: list[int]) -> bytes | None:
        calls.append(keys)
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset")
        return real_get(keys=keys, args=args)

    monkeypatch.setattr(cache, "_bounded_get", flaky)
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


def test_an_unencrypted_cache_is_told_entries_were_written_with_a_key(
    redis_url, credentials, key, warnings
) -> None:
    RedisCache(redis_url, key=generate_key()).set(key, credentials())
    plain = RedisCache(redis_url, encrypt=False)
    assert plain.get(key) is None
    assert "written with an encryption key" in warnings.text
