"""Cache figures: AssumeRole calls for 8 cold processes on one cache, and the cost of a warm hit."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
from botocore.credentials import JSONFileCache

from fixtures.moto_server import (
    PROFILE,
    REGION,
)
from refreshsts import (
    AssumeRole,
    FileCache,
    MemoryCache,
    RedisCache,
    RefreshableSession,
    TemporaryCredentials,
    generate_key,
)

from .harness import (
    BOTOCORE_PROFILE,
    BOTOCORE_PROFILE_1H,
    Bench,
    loop_seconds,
    mark,
    print_goals,
    print_table,
    ratio_text,
)

COLD_PROCESSES = 8
COLD_TIMEOUT = 60.0  # s for the 8 to be ready, and again for them to finish
COLD_LEAD = 0.3  # s from "all 8 are ready" to their common start time
KEY_ENV = "REFRESHSTS_CACHE_KEY"
HIT_KEY = hashlib.sha256(b"refreshsts-bench-hit").hexdigest()  # a cache key: a hex digest
HIT_REPEATS = 7
HIT_CALLS = {"memory": 100_000, "file": 3_000, "redis": 1_500}
GOAL_COLD_CALLS = 1
GOAL_MEMORY_HIT_US = 5.0
GOAL_FILE_HIT_US = 200.0


# -- 4. caches: 8 cold processes, warm hits ----------------------------------------------------


@contextlib.contextmanager
def cache_key_env(key: str) -> Iterator[None]:
    """REFRESHSTS_CACHE_KEY for spawned children (a pickled session carries no key), then gone."""
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = key
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous


def botocore_cached_session(profile: str, directory: str) -> botocore.session.Session:
    """A botocore session on `profile` with JSONFileCache hooked up the way the AWS CLI does."""
    session = botocore.session.Session(profile=profile)
    provider = session.get_component("credential_provider").get_provider("assume-role")
    provider.cache = JSONFileCache(directory)
    return session


def cold_worker(
    kind: str, payload: Any, bucket: str, ready: Any, go: Any, start_at: Any, results: Any
) -> None:
    """One spawned process: build its session and S3 client (neither calls STS), say ready,
    wait for the common start time (as cache_workers.first_request does), make one request."""
    try:
        if kind == "botocore":
            profile, directory = payload
            client = botocore_cached_session(profile, directory).create_client("s3")
        else:
            client = pickle.loads(payload).client("s3")
    except BaseException as exc:
        ready.put(f"{type(exc).__name__}: {exc}")
        return
    ready.put(None)
    try:
        if not go.wait(COLD_TIMEOUT):
            raise TimeoutError("never released")
        late = time.time() - start_at.value
        time.sleep(max(0.0, -late))
        client.list_objects_v2(Bucket=bucket)
        results.put({"late_ms": max(late, 0.0) * 1e3})
    except BaseException as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})


def cold_start(bench: Bench, kind: str, payload: Any) -> dict[str, Any]:
    """AssumeRole calls when 8 spawned processes start cold together on one shared cache."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    args = (kind, payload, bench.world.bucket, ready, go, start_at, results)
    processes = [
        ctx.Process(target=cold_worker, args=args, daemon=True) for _ in range(COLD_PROCESSES)
    ]
    bench.proxy.clear()
    started = time.perf_counter()
    outcomes: list[dict[str, Any]] = []
    try:
        for process in processes:
            process.start()
        setup_errors = [ready.get(timeout=COLD_TIMEOUT) for _ in processes]
        ready_s = time.perf_counter() - started
        start_at.value = time.time() + COLD_LEAD
        go.set()
        failed = [error for error in setup_errors if error is not None]
        outcomes = [results.get(timeout=COLD_TIMEOUT) for _ in range(len(processes) - len(failed))]
        outcomes += [{"error": error} for error in failed]
    finally:
        go.set()
        for process in processes:
            process.join(timeout=10)
        for process in processes:  # only ours, by handle
            if process.is_alive():
                process.kill()
                process.join()
    errors = [o["error"] for o in outcomes if "error" in o]
    return {
        "processes": len(processes),
        "assume_role_calls": bench.assume_role_calls(),
        "distinct_access_keys": len(  # that signed the S3 requests, as the proxy saw them
            {r.access_key_id for r in bench.proxy.requests if r.service == "s3"}
        ),
        "errors": errors,
        "ready_s": ready_s,
        "latest_start_ms": max((o.get("late_ms", 0.0) for o in outcomes), default=0.0),
    }


def one_more_botocore_session(bench: Bench, profile: str, directory: str) -> int:
    """AssumeRole calls of a 9th botocore session (in this process) once the cache is written."""
    bench.proxy.clear()
    botocore_cached_session(profile, directory).get_credentials().get_frozen_credentials()
    return bench.assume_role_calls()


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str | None, str]]:
    """(url, "") on a real redis-server on a free loopback port, or (None, why it is skipped)."""
    if shutil.which("redis-server") is None:
        yield None, "redis-server is not installed (apt-get install -y redis-server)"
        return
    try:
        from fixtures.redis_server import RedisServer  # noqa: PLC0415 (needs redis and pytest)
    except ImportError as exc:
        yield None, f"cannot import the RedisServer fixture ({exc}): pip install -e '.[test]'"
        return
    server = RedisServer(workdir)
    try:
        try:
            server.start()
        except Exception as exc:
            yield None, f"redis-server did not start ({type(exc).__name__}: {exc})"
            return
        yield server.url, ""
    finally:
        server.kill()


def bench_cold_processes(bench: Bench, tmp: Path, redis_url: str | None) -> dict[str, Any]:
    role_arn = bench.world.role_arn
    results: dict[str, Any] = {}
    for name, profile in (
        ("botocore_900s", BOTOCORE_PROFILE),
        ("botocore_1h", BOTOCORE_PROFILE_1H),
    ):
        directory = str(tmp / f"jsonfilecache-{name}")
        results[name] = cold_start(bench, "botocore", (profile, directory))
        results[name]["ninth_session_assume_role_calls"] = one_more_botocore_session(
            bench, profile, directory
        )
    key = generate_key()
    backends: list[tuple[str, Callable[[], Any]]] = [
        ("refreshsts_file", lambda: FileCache(tmp / "filecache-cold")),
    ]
    if redis_url is not None:
        backends.append(("refreshsts_redis", lambda: RedisCache(redis_url, key=key)))
    with cache_key_env(key):
        for name, make_cache in backends:
            session = RefreshableSession(
                AssumeRole(role_arn, session_name="bench-cold"),
                source=PROFILE,
                region=REGION,
                duration=900,
                cache=make_cache(),
            )
            data = pickle.dumps(session)
            assert key.encode() not in data, "a pickled session must not carry the key"
            results[name] = cold_start(bench, "refreshsts", data)
    return results


def bench_cache_hits(bench: Bench, tmp: Path, redis_url: str | None) -> dict[str, Any]:
    """Cost of `get` on a stored, fresh entry: best of HIT_REPEATS runs, backends interleaved."""
    assert KEY_ENV not in os.environ, "the plain FileCache must not pick up a key"
    sts = boto3.Session(profile_name=PROFILE).client("sts")
    response = sts.assume_role(
        RoleArn=bench.world.role_arn, RoleSessionName="bench-hit", DurationSeconds=3600
    )
    creds = TemporaryCredentials.from_sts(response, issued=time.time(), arn_key="AssumedRoleUser")
    plain = FileCache(tmp / "filecache-plain")
    sealed = FileCache(tmp / "filecache-sealed", key=generate_key())
    assert not plain.encrypted and sealed.encrypted
    caches: list[tuple[str, Any, int]] = [
        ("memory", MemoryCache(), HIT_CALLS["memory"]),
        ("file", plain, HIT_CALLS["file"]),
        ("file_encrypted", sealed, HIT_CALLS["file"]),
    ]
    if redis_url is not None:
        caches.append(
            ("redis_encrypted", RedisCache(redis_url, key=generate_key()), HIT_CALLS["redis"])
        )
    hits: list[tuple[str, Callable[[], Any], int]] = []
    for name, cache, calls in caches:
        cache.set(HIT_KEY, creds)
        got = cache.get(HIT_KEY)
        assert got is not None and got.access_key_id == creds.access_key_id, f"{name}: no hit"
        hits.append((name, functools.partial(cache.get, HIT_KEY), calls))
    jsonfilecache = JSONFileCache(str(tmp / "jsonfilecache-hit"))
    jsonfilecache[HIT_KEY] = {k: response[k] for k in ("Credentials", "AssumedRoleUser")}
    assert jsonfilecache[HIT_KEY]["Credentials"]["AccessKeyId"] == creds.access_key_id
    hits.append(
        (
            "botocore_jsonfilecache",
            functools.partial(jsonfilecache.__getitem__, HIT_KEY),
            HIT_CALLS["file"],
        )
    )

    samples: dict[str, list[float]] = {name: [] for name, _, _ in hits}
    for fn, calls in ((fn, calls) for _, fn, calls in hits):  # warm-up
        loop_seconds(fn, max(calls // 10, 10))
    for index in range(HIT_REPEATS):
        order = hits if index % 2 == 0 else list(reversed(hits))
        for name, fn, calls in order:
            samples[name].append(loop_seconds(fn, calls) / calls * 1e6)
    return {
        name: {"us": min(samples[name]), "samples_us": samples[name], "calls_per_repeat": calls}
        for name, _, calls in hits
    }


def bench_caches(bench: Bench, tmp: Path) -> dict[str, Any]:
    with redis_server(tmp / "redis") as (redis_url, skipped):
        cold = bench_cold_processes(bench, tmp, redis_url)
        hits = bench_cache_hits(bench, tmp, redis_url)
    return {"cold_processes": cold, "warm_hits": hits, "redis_skipped": skipped or None}


def report_caches(caches: dict[str, Any]) -> list[dict[str, Any]]:
    cold, hits = caches["cold_processes"], caches["warm_hits"]
    skipped = caches["redis_skipped"]
    bc9, bc1h, rs_file = cold["botocore_900s"], cold["botocore_1h"], cold["refreshsts_file"]
    rs_redis = cold.get("refreshsts_redis")
    n = bc9["processes"]
    file_calls, bc_calls = rs_file["assume_role_calls"], bc9["assume_role_calls"]
    memory_us = hits["memory"]["us"]
    file_us, sealed_us = hits["file"]["us"], hits["file_encrypted"]["us"]
    bc_hit_us = hits["botocore_jsonfilecache"]["us"]

    rows: list[tuple[str, ...]] = [
        (
            f"AssumeRole calls, {n} cold processes, one dir (900 s)",
            f"{bc_calls}",
            f"{file_calls}",
            f"{file_calls}/{bc_calls}",
            f"1 (bc: {n})",
            mark(file_calls == GOAL_COLD_CALLS),
        ),
        (
            "  botocore-role-1h (JSONFileCache entry usable)",
            f"{bc1h['assume_role_calls']}",
            "",
            "",
            "",
            "",
        ),
    ]
    if rs_redis is not None:
        redis_calls = rs_redis["assume_role_calls"]
        rows.append(
            (
                f"AssumeRole calls, {n} cold 'hosts', RedisCache",
                "n/a",
                f"{redis_calls}",
                "",
                "1",
                mark(redis_calls == GOAL_COLD_CALLS),
            )
        )
    else:
        rows.append(
            (f"AssumeRole calls, {n} cold 'hosts', RedisCache", "n/a", "-", "", "1", "SKIP")
        )
    rows += [
        (
            "warm hit us, MemoryCache.get",
            "",
            f"{memory_us:.3f}",
            "",
            "< 5 us",
            mark(memory_us < GOAL_MEMORY_HIT_US),
        ),
        (
            "warm hit us, FileCache.get (bc: JSONFileCache[k])",
            f"{bc_hit_us:.1f}",
            f"{file_us:.1f}",
            ratio_text(file_us, bc_hit_us),
            "< 200 us",
            mark(file_us < GOAL_FILE_HIT_US),
        ),
        (
            "warm hit us, FileCache(key=).get, AES-GCM",
            f"{bc_hit_us:.1f}",
            f"{sealed_us:.1f}",
            ratio_text(sealed_us, bc_hit_us),
            "< 200 us",
            mark(sealed_us < GOAL_FILE_HIT_US),
        ),
    ]
    if "redis_encrypted" in hits:
        rows.append(
            (
                "warm hit us, RedisCache(key=).get, loopback",
                "",
                f"{hits['redis_encrypted']['us']:.1f}",
                "",
                "",
                "",
            )
        )
    else:
        rows.append(("warm hit us, RedisCache(key=).get, loopback", "", "-", "", "", "SKIP"))
    print_table(rows)
    if skipped:
        print(f"SKIP RedisCache rows: {skipped}")
    runs = [("botocore 900 s", bc9), ("botocore 1 h", bc1h), ("FileCache", rs_file)]
    if rs_redis is not None:
        runs.append(("RedisCache", rs_redis))
    print(
        f"cold processes: {n} spawned per run, released together {COLD_LEAD:g} s after all were "
        "ready (session and S3 client built, no STS call yet), one S3 request each"
    )
    print(
        "  distinct access keys / all ready after / latest start: "
        + "; ".join(
            f"{label} {r['distinct_access_keys']} / {r['ready_s']:.1f} s / "
            f"+{r['latest_start_ms']:.0f} ms"
            for label, r in runs
        )
    )
    for label, r in runs:
        if r["errors"]:
            print(f"  {label}: {len(r['errors'])} process(es) failed: {r['errors'][0]}")
    print(
        "a 9th botocore session afterwards, same cache dir: "
        f"{bc9['ninth_session_assume_role_calls']} AssumeRole at 900 s, "
        f"{bc1h['ninth_session_assume_role_calls']} at 1 h (botocore treats an entry within "
        "15 min of expiry as expired, so a 900 s entry is never reused)"
    )
    print(
        f"warm hits: best of {HIT_REPEATS} x (memory {HIT_CALLS['memory']:,}, file "
        f"{HIT_CALLS['file']:,}, redis {HIT_CALLS['redis']:,}) calls on one stored entry, "
        "backends interleaved, loop overhead included; refreshsts file/redis hits include "
        "the ownership/mode checks, decoding and the expiry check"
    )

    goals: list[dict[str, Any]] = [
        {
            "goal": f"AssumeRole calls for {n} cold processes on one FileCache == 1",
            "value": file_calls,
            "botocore": bc_calls,
            "pass": file_calls == GOAL_COLD_CALLS,
        },
    ]
    if rs_redis is not None:
        goals.append(
            {
                "goal": f"AssumeRole calls for {n} cold processes on one RedisCache == 1",
                "value": rs_redis["assume_role_calls"],
                "pass": rs_redis["assume_role_calls"] == GOAL_COLD_CALLS,
            }
        )
    goals += [
        {
            "goal": "MemoryCache hit < 5 us",
            "value": memory_us,
            "pass": memory_us < GOAL_MEMORY_HIT_US,
        },
        {
            "goal": "FileCache hit < 200 us",
            "value": file_us,
            "pass": file_us < GOAL_FILE_HIT_US,
        },
        {
            "goal": "FileCache(key=) hit < 200 us",
            "value": sealed_us,
            "pass": sealed_us < GOAL_FILE_HIT_US,
        },
    ]
    print_goals(goals)
    if skipped:
        print(
            f"  SKIP  AssumeRole calls for {n} cold processes on one RedisCache == 1  ({skipped})"
        )
    return goals
