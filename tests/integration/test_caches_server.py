"""FileCache and RedisCache shared by real processes, against the moto server."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time

import pytest
import redis as redis_py
from cache_workers import first_request, keep_working

from fixtures.moto_server import build_world
from refreshsts import (
    AssumeRole,
    ConfigurationError,
    FileCache,
    RedisCache,
    RefreshableSession,
    RefreshError,
    generate_key,
)

PROFILE = "ststestprofile"
PROCESSES = 8


def session_for(world, cache, **options):
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name="fleet"),
        source=options.pop("source", PROFILE),
        region="us-west-2",
        cache=cache,
        **options,
    )


def run_cold_start(data: bytes, bucket: str) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        start_at = time.time() + 3.0
        results = [
            pool.apply_async(first_request, (data, bucket, start_at)) for _ in range(PROCESSES)
        ]
        return [r.get(timeout=60) for r in results]


@pytest.mark.slow
def test_8_cold_processes_sharing_a_file_cache_make_one_assume_role(
    world, proxied_aws_env, sts_proxy, tmp_path, monkeypatch
):
    key = generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)
    cache = FileCache(tmp_path / "cache")
    data = pickle.dumps(session_for(world, cache))
    assert key.encode() not in data
    keys = run_cold_start(data, world.bucket)
    assert len(set(keys)) == 1
    assert sts_proxy.calls("AssumeRole") == 1
    for path in (tmp_path / "cache").iterdir():
        assert keys[0].encode() not in path.read_bytes()
        assert world.secret_access_key not in path.name


@pytest.mark.slow
def test_8_hosts_sharing_a_redis_cache_make_one_call_and_store_no_plaintext(
    world, proxied_aws_env, sts_proxy, redis_url, monkeypatch
):
    key = generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)
    data = pickle.dumps(session_for(world, RedisCache(redis_url, key=key)))
    assert key.encode() not in data
    keys = run_cold_start(data, world.bucket)
    assert len(set(keys)) == 1
    assert sts_proxy.calls("AssumeRole") == 1
    client = redis_py.Redis.from_url(redis_url)
    names = client.keys("*")
    stored = b"".join(client.get(n) or b"" for n in names if b":entry:" in n)
    assert stored
    session = pickle.loads(data)
    frozen = session.get_credentials().get_frozen_credentials()
    for secret in (frozen.access_key, frozen.secret_key, frozen.token, world.access_key_id):
        assert secret.encode() not in stored
        assert all(secret.encode() not in name for name in names)


def test_a_pickled_encrypted_session_needs_the_key_from_the_environment(
    world, aws_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", generate_key())
    data = pickle.dumps(session_for(world, FileCache(tmp_path / "c")))
    monkeypatch.delenv("REFRESHSTS_CACHE_KEY")
    with pytest.raises(ConfigurationError, match="REFRESHSTS_CACHE_KEY"):
        pickle.loads(data)


@pytest.mark.slow
def test_killing_redis_mid_run_leaves_every_process_working_on_sts(
    world, proxied_aws_env, sts_proxy, disposable_redis, monkeypatch
):
    sts_proxy.expiration_seconds = 6
    key = generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)
    data = pickle.dumps(session_for(world, RedisCache(disposable_redis.url, key=key)))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = [pool.apply_async(keep_working, (data, world.bucket, 12.0)) for _ in range(4)]
        killer = threading.Timer(4.0, disposable_redis.kill)
        killer.start()
        reports = [r.get(timeout=90) for r in results]
        killer.join()
    for report in reports:
        assert report["errors"] == []
        assert report["ok"] > 50
    assert sts_proxy.calls("AssumeRole") >= 2, "after Redis died, processes refreshed via STS"
    assert sts_proxy.expired_signings() == []


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_entries_of_one_principal_are_never_returned_to_another(
    moto_server, world, aws_env, tmp_path, backend, redis_url
):
    with moto_server.admin():
        other = build_world(moto_server, suffix=f"{world.suffix}-other")
    aws_env.add_config("[profile intruder]\nregion = us-west-2")
    with aws_env.credentials_file.open("a") as handle:
        handle.write(
            f"\n[intruder]\naws_access_key_id = {other.access_key_id}\n"
            f"aws_secret_access_key = {other.secret_access_key}\n"
        )
    key = generate_key()
    cache = (
        FileCache(tmp_path / "c", key=key) if backend == "file" else RedisCache(redis_url, key=key)
    )
    owner = session_for(world, cache)
    owner.client("s3").list_objects_v2(Bucket=world.bucket)
    intruder = session_for(world, cache, source="intruder")
    with pytest.raises(RefreshError, match="AccessDenied"):
        intruder.get_credentials().get_frozen_credentials()


def test_an_older_redis_entry_put_back_costs_an_sts_call_and_is_never_used(
    world, proxied_aws_env, sts_proxy, redis_url
):
    key = generate_key()
    first = session_for(world, RedisCache(redis_url, key=key))
    old_key = first.get_credentials().get_frozen_credentials().access_key
    raw = redis_py.Redis.from_url(redis_url)
    (name,) = raw.keys("refreshsts:entry:*")
    replayed = raw.get(name)
    first.get_credentials().refresh()
    assert sts_proxy.calls("AssumeRole") == 2
    raw.set(name, replayed)
    raw.close()
    later = session_for(world, RedisCache(redis_url, key=key))
    assert later.get_credentials().get_frozen_credentials().access_key != old_key
    assert sts_proxy.calls("AssumeRole") == 3
    later.client("s3").list_objects_v2(Bucket=world.bucket)
