#!/usr/bin/env python
"""refreshsts vs a botocore `role_arn` profile, side by side, in one run on a local moto server.

    python benchmarks/run.py [--json PATH] [--iterations N] [--check]
                             [--only {core,caches,refresh,all}]

Starts a moto server on 127.0.0.1 (IAM auth on after the seed world is built) and a recording
StsProxy in front of it (AWS_ENDPOINT_URL points at the proxy, so every AssumeRole is counted),
writes isolated AWS files into a temporary HOME, then measures, interleaving the two sides:

1. AssumeRole calls for 200 S3 requests on 900-second credentials.
2. `get_frozen_credentials()` per call (fresh 1 h credentials; and 900 s ones).
3. New session + first S3 client (ms), and new session + first request.
4. Caches (`--only caches`): AssumeRole calls when 8 spawned processes start cold together on
   botocore's JSONFileCache, a refreshsts FileCache and a RedisCache (a real `redis-server` on
   a free loopback port; a SKIP line if it is not installed), and the cost of a warm cache hit
   per backend (MemoryCache, FileCache plain and encrypted, RedisCache; JSONFileCache for context).
5. Refresh under load (`--only refresh`, ~70 s): 12-second credentials (the proxy rewrites
   Expiration), AssumeRole delayed 2 s, 8 threads calling S3 for 15 s: requests blocked by a
   refresh, p50/p99/max latency, AssumeRole calls and expired signings for refreshsts
   OnDemandRefresh and BackgroundRefresh and a botocore `role_arn` profile whose refresh windows
   are scaled to the lifetime (advisory 4 s, mandatory 1.2 s); then AssumeRole calls made by
   32 threads through 10 refreshes of ~3-second credentials, refreshsts and botocore at once.

The fixtures come from the repository's tests/ directory; nothing is copied here.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import hashlib
import importlib.util
import itertools
import json
import multiprocessing
import os
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
import moto
from botocore.credentials import JSONFileCache, RefreshableCredentials

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the shared fixtures: reused, not copied
if importlib.util.find_spec("refreshsts") is None:  # not installed: run from the checkout
    sys.path.insert(0, str(ROOT / "src"))

import refreshsts  # noqa: E402
from fixtures.moto_server import (  # noqa: E402
    PROFILE,
    REGION,
    MotoServer,
    build_world,
    write_aws_files,
)
from fixtures.sts_proxy import StsProxy  # noqa: E402
from refreshsts import (  # noqa: E402
    AssumeRole,
    BackgroundRefresh,
    FileCache,
    MemoryCache,
    NoCache,
    OnDemandRefresh,
    RedisCache,
    RefreshableSession,
    RefreshEvent,
    RefreshWindows,
    TemporaryCredentials,
    generate_key,
)

BOTOCORE_PROFILE = "botocore-role"  # duration_seconds = 900
BOTOCORE_PROFILE_1H = "botocore-role-1h"  # duration_seconds = 3600
REQUESTS = 200
FROZEN_CALLS = 100_000
FROZEN_REPEATS = 5
SLOW_FROZEN_CALLS = 20  # botocore at 900 s: every call is an AssumeRole round trip

GOAL_FROZEN_US = 1.0
GOAL_FROZEN_RATIO = 1 / 8
GOAL_SESSION_RATIO = 1 / 4

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

HAMMER_THREADS = 8
HAMMER_SECONDS = 15.0
HAMMER_PAUSE = 0.02  # s between one thread's requests
HAMMER_LIFETIME = 12  # s: the proxy rewrites Expiration to floor(now + this)
STS_DELAY = 2.0  # s added to every AssumeRole during the 15 s runs
BLOCKED_S = 1.5  # a request that waited on STS takes at least STS_DELAY; the rest is margin
ROUND_THREADS = 32
ROUNDS = 10
ROUND_LIFETIME = 3  # s
ROUND_LATE = 0.1  # s past the advisory point when a round's 32 threads are released
ROUND_LEAD = 0.4  # s before that when the 32 threads are started (they wait on a barrier)
BOTOCORE_PROFILE_B = "botocore-role-b"  # AssumeRole signed by a second key of the same user
SOURCE_PROFILE_B = "bench-source-b"
WINDOWS = RefreshWindows()  # what a RefreshableSession sizes its windows with by default
GOAL_BLOCKED = 0
GOAL_ROUND_CALLS = ROUNDS


# -- helpers ------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "cpus": str(os.cpu_count()),
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "refreshsts": refreshsts.__version__,
        "moto": moto.__version__,
    }


def isolate_environment() -> None:
    """Drop the host's AWS settings, so nothing but the temporary HOME is read."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("BOTO_CONFIG", "MOTO_ACCOUNT_ID"):
            del os.environ[name]


def loop_seconds(fn: Callable[[], Any], calls: int) -> float:
    """Seconds for `calls` calls of `fn`, gc off (as timeit does); includes the loop itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in itertools.repeat(None, calls):
            fn()
        return time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    rounds: int,
    *,
    between: Callable[[], Any] = gc.collect,
) -> tuple[list[float], list[float]]:
    """Time `a` and `b` alternately (AB, BA, AB, ...) so drift and noise hit both alike."""
    times_a: list[float] = []
    times_b: list[float] = []
    for index in range(rounds):
        order = ((a, times_a), (b, times_b)) if index % 2 == 0 else ((b, times_b), (a, times_a))
        for fn, sink in order:
            between()
            started = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - started)
    return times_a, times_b


def ratio_text(rs: float, bc: float) -> str:
    if bc <= 0 or rs <= 0:
        return f"{rs / bc:.3f}" if bc > 0 else "n/a"
    r = rs / bc
    if r >= 1:
        return f"{r:.2f}x"
    inverse = bc / rs
    return f"{r:.3f} (1/{inverse:.1f})" if inverse < 100 else f"{r:.1e} (1/{inverse:,.0f})"


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# -- the world ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, server: MotoServer, proxy: StsProxy, world: Any, files: Any) -> None:
        self.server = server
        self.proxy = proxy
        self.world = world
        self.files = files

    def assume_role_calls(self) -> int:
        return self.proxy.calls("AssumeRole")

    def refreshsts_session(self, **options: Any) -> RefreshableSession:
        return RefreshableSession(
            AssumeRole(self.world.role_arn, session_name="bench"),
            source=PROFILE,
            region=REGION,
            **options,
        )


def setup(home: Path) -> tuple[Bench, MotoServer, StsProxy]:
    server = MotoServer().start()
    try:
        world = build_world(server, suffix="-bench")
        server.auth_on()
        proxy = StsProxy(server.url).start()
    except BaseException:
        server.stop()
        raise
    files = write_aws_files(home, world.access_key_id, world.secret_access_key, proxy.url)
    for name, seconds in ((BOTOCORE_PROFILE, 900), (BOTOCORE_PROFILE_1H, 3600)):
        files.add_config(
            f"[profile {name}]\n"
            f"role_arn = {world.role_arn}\n"
            f"source_profile = {PROFILE}\n"
            f"duration_seconds = {seconds}\n"
            "role_session_name = bench\n"
            f"region = {REGION}\n"
        )
    os.environ.update(files.env)  # AWS_ENDPOINT_URL is the proxy
    return Bench(server, proxy, world, files), server, proxy


# -- 1. AssumeRole calls per 200 requests at 900 s --------------------------------------------


def bench_assume_role_calls(bench: Bench) -> dict[str, Any]:
    bucket = bench.world.bucket
    results: dict[str, Any] = {}
    makers = {
        "refreshsts": lambda: bench.refreshsts_session(duration=900, cache=MemoryCache()),
        "botocore": lambda: boto3.Session(profile_name=BOTOCORE_PROFILE),
    }
    for name, make in makers.items():
        bench.proxy.clear()
        s3 = make().client("s3")
        started = time.perf_counter()
        for _ in range(REQUESTS):
            s3.list_objects_v2(Bucket=bucket)
        elapsed = time.perf_counter() - started
        results[name] = {
            "assume_role_calls": bench.assume_role_calls(),
            "requests": REQUESTS,
            "ms_per_request": elapsed / REQUESTS * 1e3,
        }
    return results


# -- 2. get_frozen_credentials() ------------------------------------------------------------


def bench_frozen(bench: Bench) -> dict[str, Any]:
    rs_1h = bench.refreshsts_session(duration=3600, cache=MemoryCache()).get_credentials()
    bc_1h = boto3.Session(profile_name=BOTOCORE_PROFILE_1H).get_credentials()
    rs_900 = bench.refreshsts_session(duration=900, cache=MemoryCache()).get_credentials()
    bc_900 = boto3.Session(profile_name=BOTOCORE_PROFILE).get_credentials()

    # Warm-up: the first call fetches; then both sit on their fast path.
    for creds in (rs_1h, bc_1h, rs_900):
        creds.get_frozen_credentials()
        loop_seconds(creds.get_frozen_credentials, 10_000)

    def fast_pair(rs: Any, bc: Any) -> tuple[list[float], list[float]]:
        rs_us: list[float] = []
        bc_us: list[float] = []
        for index in range(FROZEN_REPEATS):
            pair = [(rs, rs_us), (bc, bc_us)]
            for creds, sink in pair if index % 2 == 0 else reversed(pair):
                sink.append(
                    loop_seconds(creds.get_frozen_credentials, FROZEN_CALLS) / FROZEN_CALLS * 1e6
                )
        return rs_us, bc_us

    rs_1h_us, bc_1h_us = fast_pair(rs_1h, bc_1h)

    # 900 s: refreshsts is on its fast path, botocore refreshes on every call.
    rs_900_us: list[float] = []
    bc_900_us: list[float] = []
    bc_900.get_frozen_credentials()
    bench.proxy.clear()
    for index in range(3):
        pair = [
            (
                lambda: loop_seconds(rs_900.get_frozen_credentials, FROZEN_CALLS) / FROZEN_CALLS,
                rs_900_us,
            ),
            (
                lambda: (
                    loop_seconds(bc_900.get_frozen_credentials, SLOW_FROZEN_CALLS)
                    / SLOW_FROZEN_CALLS
                ),
                bc_900_us,
            ),
        ]
        for run, sink in pair if index % 2 == 0 else reversed(pair):
            sink.append(run() * 1e6)
    bc_900_sts = bench.assume_role_calls() / (3 * SLOW_FROZEN_CALLS)

    return {
        "1h": {
            "refreshsts_us": min(rs_1h_us),
            "botocore_us": min(bc_1h_us),
            "refreshsts_samples_us": rs_1h_us,
            "botocore_samples_us": bc_1h_us,
            "calls_per_repeat": FROZEN_CALLS,
        },
        "900s": {
            "refreshsts_us": min(rs_900_us),
            "botocore_us": min(bc_900_us),
            "refreshsts_samples_us": rs_900_us,
            "botocore_samples_us": bc_900_us,
            "botocore_assume_role_per_call": bc_900_sts,
            "calls_per_repeat": {"refreshsts": FROZEN_CALLS, "botocore": SLOW_FROZEN_CALLS},
        },
    }


# -- 3. new session + first client / first request ---------------------------------------------


def bench_new_session(bench: Bench, iterations: int) -> dict[str, Any]:
    role_arn = bench.world.role_arn
    bucket = bench.world.bucket

    def rs_client() -> Any:
        return RefreshableSession(
            AssumeRole(role_arn, session_name="bench"), source=PROFILE, region=REGION
        ).client("s3")

    def bc_client() -> Any:
        return boto3.Session(profile_name=BOTOCORE_PROFILE).client("s3")

    def rs_request() -> None:
        rs_client().list_objects_v2(Bucket=bucket)

    def bc_request() -> None:
        bc_client().list_objects_v2(Bucket=bucket)

    results: dict[str, Any] = {}
    for label, rs, bc in (("client", rs_client, bc_client), ("request", rs_request, bc_request)):
        rs()  # one warm-up each
        bc()
        bench.proxy.clear()
        rs_s, bc_s = interleaved(rs, bc, iterations)
        per_session = {}
        for name, fn in (("refreshsts", rs), ("botocore", bc)):  # STS cost, outside the timing
            bench.proxy.clear()
            for _ in range(3):
                fn()
            per_session[name] = bench.assume_role_calls() / 3
        results[label] = {
            "refreshsts_ms": statistics.median(rs_s) * 1e3,
            "botocore_ms": statistics.median(bc_s) * 1e3,
            "refreshsts_samples_ms": [t * 1e3 for t in rs_s],
            "botocore_samples_ms": [t * 1e3 for t in bc_s],
            "iterations": iterations,
            "assume_role_calls_per_session": per_session,
        }
    return results


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


# -- 5. refresh under load: 8 threads for 15 s; 32 threads through 10 refreshes --------------

Windows = tuple[float, float, float, float]
"""(expiration epoch, advisory s, mandatory s, margin s) of the credentials in hand."""


class Side:
    """One contender in the refresh runs: credentials, an S3 client, and how to read its windows
    without triggering a refresh."""

    def __init__(
        self,
        name: str,
        creds: Any,
        s3: Any,
        *,
        windows: Callable[[], Windows | None],
        wait: Callable[[float], bool],
        close: Callable[[], None] = lambda: None,
        events: list[tuple[float, RefreshEvent]] | None = None,
        note: str = "",
    ) -> None:
        self.name = name
        self.creds = creds
        self.s3 = s3
        self.windows = windows
        self.wait = wait
        self.close = close
        self.events = events
        self.note = note

    def access_key(self) -> str | None:
        frozen = self.creds._frozen_credentials  # both sides keep it; reading it never refreshes
        return None if frozen is None else str(frozen.access_key)


def refreshsts_windows(creds: Any) -> Windows | None:
    current = creds.credentials
    if current is None:
        return None
    life = max(current.lifetime, 1.0)
    return (
        current.expiration,
        WINDOWS.advisory(life),
        WINDOWS.mandatory(life),
        WINDOWS.margin(life),
    )


def botocore_windows(creds: Any) -> Windows | None:
    expiry = creds._expiry_time
    if expiry is None:
        return None
    advisory = float(creds._advisory_refresh_timeout)
    return expiry.timestamp(), advisory, float(creds._mandatory_refresh_timeout), 0.0


def wait_on_lock(lock: Any, timeout: float) -> bool:
    if not lock.acquire(timeout=timeout):
        return False
    lock.release()
    return True


def refreshsts_side(bench: Bench, name: str, strategy: Any) -> Side:
    session = bench.refreshsts_session(cache=NoCache(), refresh=strategy)
    events: list[tuple[float, RefreshEvent]] = []
    session.add_listener(lambda event: events.append((time.time(), event)))
    creds = session.get_credentials()
    return Side(
        name,
        creds,
        session.client("s3"),
        windows=functools.partial(refreshsts_windows, creds),
        wait=creds.wait_for_refresh,
        close=session.close,
        events=events,
        note=f"RefreshableSession(AssumeRole, cache=NoCache(), refresh={strategy!r})",
    )


def botocore_side(profile: str, lifetime: float) -> Side:
    """A `role_arn` profile session, its refresh windows scaled the way refreshsts sizes them."""
    session = boto3.Session(profile_name=profile)
    creds = session.get_credentials()  # the object every client of this session signs with
    if not isinstance(creds, RefreshableCredentials):
        raise TypeError(f"{profile}: expected refreshable credentials, got {type(creds).__name__}")
    fetcher = getattr(creds._refresh_using, "__self__", None)
    defaults = (creds._advisory_refresh_timeout, creds._mandatory_refresh_timeout)
    creds._advisory_refresh_timeout = WINDOWS.advisory(lifetime)
    creds._mandatory_refresh_timeout = WINDOWS.mandatory(lifetime)
    note = (
        f"boto3.Session(profile_name={profile!r}).get_credentials() -> {type(creds).__name__} "
        f"(refresh_using={type(fetcher).__name__}.{creds._refresh_using.__name__}); on that "
        f"instance set _advisory_refresh_timeout = {creds._advisory_refresh_timeout:g} s "
        f"(default {defaults[0]:g}) and _mandatory_refresh_timeout = "
        f"{creds._mandatory_refresh_timeout:g} s (default {defaults[1]:g}), i.e. "
        f"RefreshWindows().advisory({lifetime:g}) / .mandatory({lifetime:g}); the fetcher's own "
        f"cache window (_expiry_window_seconds = {getattr(fetcher, '_expiry_window_seconds', '?')} "
        "s) is left alone, so its in-memory cache never serves these short-lived credentials "
        "and every refresh is an AssumeRole call"
    )
    return Side(
        "botocore",
        creds,
        session.client("s3"),
        windows=functools.partial(botocore_windows, creds),
        wait=functools.partial(wait_on_lock, creds._refresh_lock),
        note=note,
    )


def window_name(left: float, state: Windows) -> str:
    _, advisory, mandatory, margin = state
    if left >= advisory:
        return "before the advisory window"
    if left >= mandatory:
        return "advisory window"
    if left >= margin:
        return "mandatory window"
    return "past the usable point" if left >= 0 else "expired"


Sample = tuple[int, float, float, Windows | None]
"""(thread, started at (epoch), seconds taken, windows of the credentials in hand at the start)."""


def hammer(side: Side, bucket: str) -> tuple[list[Sample], list[str]]:
    """HAMMER_THREADS threads calling S3 for HAMMER_SECONDS, as tests/integration does."""
    samples: list[Sample] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + HAMMER_SECONDS

    def work(index: int) -> None:
        while time.monotonic() < deadline:
            state = side.windows()
            began = time.time()
            started = time.perf_counter()
            try:
                side.s3.list_objects_v2(Bucket=bucket)
            except Exception as exc:  # counted and shown, never fatal
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            took = time.perf_counter() - started
            with lock:
                samples.append((index, began, took, state))
            time.sleep(HAMMER_PAUSE)

    workers = [
        threading.Thread(target=work, args=(index,), name=f"bench-s3-{index}")
        for index in range(HAMMER_THREADS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return samples, errors


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


def hammer_run(bench: Bench, make: Callable[[], Side]) -> dict[str, Any]:
    """One strategy under the 15 s load: first fetch undelayed, then STS delayed 2 s."""
    proxy, bucket = bench.proxy, bench.world.bucket
    proxy.set_delay(0, action="AssumeRole")
    proxy.clear()  # forgets issued keys too, so expired_signings() below is this side's alone
    side = make()
    try:
        side.s3.list_objects_v2(Bucket=bucket)  # the first fetch, outside the run
        proxy.set_delay(STS_DELAY, action="AssumeRole")
        begin = time.time()
        samples, errors = hammer(side, bucket)
        end = time.time()
        side.wait(STS_DELAY * 5)  # a refresh under way lands before anything is counted
    finally:
        proxy.set_delay(0, action="AssumeRole")
        side.close()
    calls = [r for r in proxy.records("AssumeRole") if begin <= r.time <= end]
    expired = proxy.expired_signings()
    seconds = [took for _, _, took, _ in samples]
    states = [state for _, _, _, state in samples if state is not None]
    events = side.events or []

    blocked = []
    for index, began, took, state in sorted(
        (s for s in samples if s[2] >= BLOCKED_S), key=lambda s: s[1]
    ):
        left = None if state is None else state[0] - began
        blocked.append(
            {
                "thread": index,
                "at_s": began - begin,
                "took_s": took,
                "seconds_left_at_start": left,
                "window_at_start": "no credentials yet"
                if state is None or left is None
                else window_name(left, state),
                "advisory_s": None if state is None else state[1],
                "mandatory_s": None if state is None else state[2],
                "refresh_events": [
                    f"{e.kind} ({e.window}) at +{t - begin:.2f} s"
                    + ("" if e.latency is None else f", fetch {e.latency:.2f} s")
                    for t, e in events
                    if began - 2 * STS_DELAY <= t <= began + took
                ],
            }
        )
    refreshes = len(calls)
    return {
        "setup": side.note,
        "threads": HAMMER_THREADS,
        "seconds": end - begin,
        "requests": len(samples),
        "errors": len(errors),
        "error_examples": errors[:3],
        "blocked": len(blocked),
        "blocked_per_refresh": len(blocked) / refreshes if refreshes else None,
        "blocked_requests": blocked,
        "p50_ms": statistics.median(seconds) * 1e3 if seconds else float("nan"),
        "p99_ms": percentile(seconds, 0.99) * 1e3,
        "max_ms": max(seconds, default=float("nan")) * 1e3,
        "assume_role_calls": refreshes,
        "expired_signings": len(expired),
        "expired_examples": [
            f"{r.action} signed by {r.access_key_id} at +{r.time - begin:.2f} s"
            for r in expired[:3]
        ],
        "advisory_s": [min(s[1] for s in states), max(s[1] for s in states)] if states else None,
        "mandatory_s": [min(s[2] for s in states), max(s[2] for s in states)] if states else None,
        "refresh_events": [
            {"at_s": t - begin, "kind": e.kind, "window": e.window, "latency_s": e.latency}
            for t, e in events
        ],
        "latencies_ms": [round(t * 1e3, 2) for t in seconds],
    }


def signed_calls(proxy: StsProxy, signer: str) -> int:
    return sum(1 for r in proxy.records("AssumeRole") if r.access_key_id == signer)


def refresh_rounds(side: Side, proxy: StsProxy, signer: str) -> dict[str, Any]:
    """ROUNDS rounds: ROUND_THREADS threads read get_frozen_credentials() together just past
    the advisory point, then the refresh is waited for; AssumeRole calls signed by `signer`."""
    side.creds.get_frozen_credentials()  # the first fetch, not counted
    baseline = previous = signed_calls(proxy, signer)
    rounds: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    for _ in range(ROUNDS):
        state = side.windows()
        assert state is not None
        expiration, advisory, mandatory, _ = state
        release = min(expiration - advisory + ROUND_LATE, expiration - (advisory + mandatory) / 2)
        before = side.access_key()
        barrier = threading.Barrier(ROUND_THREADS + 1)
        reads: list[tuple[float, bool]] = []

        def read(
            barrier: threading.Barrier = barrier,
            before: str | None = before,
            reads: list[tuple[float, bool]] = reads,
        ) -> None:
            try:
                barrier.wait(timeout=30)
                started = time.perf_counter()
                key = side.creds.get_frozen_credentials().access_key
                took = time.perf_counter() - started
                with lock:
                    reads.append((took, key != before))
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

        time.sleep(max(0.0, release - ROUND_LEAD - time.time()))
        threads = [threading.Thread(target=read) for _ in range(ROUND_THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, release - time.time()))
        released = time.time()
        barrier.wait(timeout=30)
        for thread in threads:
            thread.join()
        refreshed_in_time = side.wait(10.0)
        now = signed_calls(proxy, signer)
        rounds.append(
            {
                "calls": now - previous,
                "refreshed": side.access_key() != before,
                "waited_ok": refreshed_in_time,
                "released_s_before_expiry": expiration - released,
                "advisory_s": advisory,
                "mandatory_s": mandatory,
                "slowest_read_ms": max((t for t, _ in reads), default=float("nan")) * 1e3,
                "reads_with_new_key": sum(1 for _, new in reads if new),
            }
        )
        previous = now
    return {
        "setup": side.note,
        "assume_role_calls": previous - baseline,
        "rounds": rounds,
        "rounds_without_refresh": sum(1 for r in rounds if not r["refreshed"]),
        "slowest_read_ms": max(r["slowest_read_ms"] for r in rounds),
        "errors": errors[:3],
        "error_count": len(errors),
    }


def add_second_source(bench: Bench) -> str:
    """A second access key of the world user and a botocore `role_arn` profile on it, so the
    proxy can tell botocore's AssumeRole calls from refreshsts's when both run at once."""
    with bench.server.admin():
        key = bench.server.admin_client("iam").create_access_key(UserName=bench.world.user_name)[
            "AccessKey"
        ]
    files = bench.files
    with files.credentials_file.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n[{SOURCE_PROFILE_B}]\naws_access_key_id = {key['AccessKeyId']}\n"
            f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        )
    files.add_config(
        f"[profile {SOURCE_PROFILE_B}]\nregion = {REGION}\n\n"
        f"[profile {BOTOCORE_PROFILE_B}]\n"
        f"role_arn = {bench.world.role_arn}\n"
        f"source_profile = {SOURCE_PROFILE_B}\n"
        "role_session_name = bench-b\n"
        f"region = {REGION}\n"
    )
    return str(key["AccessKeyId"])


def bench_rounds(bench: Bench) -> dict[str, Any]:
    """32 threads through 10 refreshes, refreshsts and botocore at the same time."""
    proxy = bench.proxy
    botocore_signer = add_second_source(bench)
    proxy.set_delay(0, action="AssumeRole")
    proxy.clear()
    sides = [
        (refreshsts_side(bench, "refreshsts", OnDemandRefresh()), bench.world.access_key_id),
        (botocore_side(BOTOCORE_PROFILE_B, ROUND_LIFETIME), botocore_signer),
    ]
    results: dict[str, Any] = {}

    def drive(side: Side, signer: str) -> None:
        try:
            results[side.name] = refresh_rounds(side, proxy, signer)
        except Exception as exc:
            results[side.name] = {"failed": f"{type(exc).__name__}: {exc}"}
        finally:
            side.close()

    drivers = [threading.Thread(target=drive, args=side) for side in sides]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join()
    return results


def bench_refresh(bench: Bench) -> dict[str, Any]:
    started = time.perf_counter()
    proxy = bench.proxy
    makers: dict[str, Callable[[], Side]] = {
        "on_demand": lambda: refreshsts_side(bench, "on_demand", OnDemandRefresh()),
        "background": lambda: refreshsts_side(bench, "background", BackgroundRefresh()),
        "botocore": lambda: botocore_side(BOTOCORE_PROFILE, HAMMER_LIFETIME),
    }
    runs: dict[str, Any] = {}
    try:
        proxy.expiration_seconds = HAMMER_LIFETIME
        for name, make in makers.items():
            runs[name] = hammer_run(bench, make)
        proxy.expiration_seconds = ROUND_LIFETIME
        rounds = bench_rounds(bench)
    finally:
        proxy.expiration_seconds = None
        proxy.set_delay(0, action="AssumeRole")
    return {
        "load": runs,
        "rounds": rounds,
        "config": {
            "threads": HAMMER_THREADS,
            "seconds": HAMMER_SECONDS,
            "pause_s": HAMMER_PAUSE,
            "lifetime_s": HAMMER_LIFETIME,
            "sts_delay_s": STS_DELAY,
            "blocked_s": BLOCKED_S,
            "round_threads": ROUND_THREADS,
            "rounds": ROUNDS,
            "round_lifetime_s": ROUND_LIFETIME,
            "round_released_s_past_advisory": ROUND_LATE,
        },
        "seconds": time.perf_counter() - started,
    }


# -- report ------------------------------------------------------------------------------------


def print_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None) -> None:
    header = header or ("measure", "botocore", "refreshsts", "ratio rs/bc", "goal", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(line)


def print_goals(goals: list[dict[str, Any]]) -> None:
    print()
    for goal in goals:
        value = goal["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {mark(goal['pass'])}  {goal['goal']}  ({shown})")


def report(
    calls: dict[str, Any], frozen: dict[str, Any], session: dict[str, Any]
) -> list[dict[str, Any]]:
    rs_calls = calls["refreshsts"]["assume_role_calls"]
    bc_calls = calls["botocore"]["assume_role_calls"]
    f1, f9 = frozen["1h"], frozen["900s"]
    sc, sr = session["client"], session["request"]
    frozen_ratio = f1["refreshsts_us"] / f1["botocore_us"]
    session_ratio = sc["refreshsts_ms"] / sc["botocore_ms"]

    rows = [
        (
            "AssumeRole calls / 200 S3 requests (900 s)",
            f"{bc_calls}",
            f"{rs_calls}",
            f"{rs_calls}/{bc_calls}",
            "1 (bc: 200)",
            mark(rs_calls == 1),
        ),
        (
            "  ms per S3 request in that run (incl. STS)",
            f"{calls['botocore']['ms_per_request']:.2f}",
            f"{calls['refreshsts']['ms_per_request']:.2f}",
            ratio_text(calls["refreshsts"]["ms_per_request"], calls["botocore"]["ms_per_request"]),
            "",
            "",
        ),
        (
            "get_frozen_credentials() us, 1 h creds",
            f"{f1['botocore_us']:.3f}",
            f"{f1['refreshsts_us']:.3f}",
            ratio_text(f1["refreshsts_us"], f1["botocore_us"]),
            "<= 1 us, < 1/8",
            mark(f1["refreshsts_us"] <= GOAL_FROZEN_US and frozen_ratio < GOAL_FROZEN_RATIO),
        ),
        (
            "get_frozen_credentials() us, 900 s creds",
            f"{f9['botocore_us']:.1f}",
            f"{f9['refreshsts_us']:.3f}",
            ratio_text(f9["refreshsts_us"], f9["botocore_us"]),
            "",
            "",
        ),
        (
            "new session + first S3 client, ms",
            f"{sc['botocore_ms']:.2f}",
            f"{sc['refreshsts_ms']:.2f}",
            ratio_text(sc["refreshsts_ms"], sc["botocore_ms"]),
            "< 1/4",
            mark(session_ratio < GOAL_SESSION_RATIO),
        ),
        (
            "new session + first request, ms",
            f"{sr['botocore_ms']:.2f}",
            f"{sr['refreshsts_ms']:.2f}",
            ratio_text(sr["refreshsts_ms"], sr["botocore_ms"]),
            "",
            "",
        ),
    ]
    print_table(rows)
    print(
        f"botocore at 900 s: {f9['botocore_assume_role_per_call']:.2f} AssumeRole per "
        "get_frozen_credentials() call (its 15-min advisory window covers the whole lifetime)"
    )
    per_client, per_request = (
        sc["assume_role_calls_per_session"],
        sr["assume_role_calls_per_session"],
    )
    print(
        "AssumeRole calls per new session: + first client "
        f"{per_client['refreshsts']:g} vs {per_client['botocore']:g}; + first request "
        f"{per_request['refreshsts']:g} vs {per_request['botocore']:g} (refreshsts vs botocore: "
        "the process-wide MemoryCache serves new refreshsts sessions)"
    )
    print(
        f"session rows: medians of {sc['iterations']} interleaved runs each; "
        f"get_frozen_credentials: best of {FROZEN_REPEATS} x {FROZEN_CALLS:,} calls "
        f"(900 s: 3 x {FROZEN_CALLS:,} vs 3 x {SLOW_FROZEN_CALLS}), loop overhead included"
    )
    goals = [
        {
            "goal": "AssumeRole calls per 200 requests at 900 s == 1",
            "value": rs_calls,
            "botocore": bc_calls,
            "pass": rs_calls == 1,
        },
        {
            "goal": "get_frozen_credentials <= 1 us",
            "value": f1["refreshsts_us"],
            "pass": f1["refreshsts_us"] <= GOAL_FROZEN_US,
        },
        {
            "goal": "get_frozen_credentials < 1/8 of botocore",
            "value": frozen_ratio,
            "pass": frozen_ratio < GOAL_FROZEN_RATIO,
        },
        {
            "goal": "new session + first client < 1/4 of botocore",
            "value": session_ratio,
            "pass": session_ratio < GOAL_SESSION_RATIO,
        },
    ]
    print_goals(goals)
    return goals


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


def report_refresh(refresh: dict[str, Any]) -> list[dict[str, Any]]:
    load, rounds = refresh["load"], refresh["rounds"]
    od, bg, bc = load["on_demand"], load["background"], load["botocore"]
    rs_rounds, bc_rounds = rounds.get("refreshsts", {}), rounds.get("botocore", {})

    def clean(run: dict[str, Any]) -> bool:
        return (
            run["blocked"] == GOAL_BLOCKED and run["assume_role_calls"] >= 1 and not run["errors"]
        )

    def trio(key: str, fmt: str = "{}") -> tuple[str, str, str]:
        return tuple(fmt.format(run[key]) for run in (bc, od, bg))  # type: ignore[return-value]

    def per_refresh(run: dict[str, Any]) -> str:
        value = run["blocked_per_refresh"]
        return "-" if value is None else f"{value:.2f}"

    rs_calls = rs_rounds.get("assume_role_calls")
    bc_calls = bc_rounds.get("assume_role_calls")
    rows: list[tuple[str, ...]] = [
        (
            f"requests blocked by a refresh (>= {BLOCKED_S:g} s)",
            *trio("blocked"),
            "0 (bc: ~1/refresh)",
            mark(clean(od) and clean(bg)),
        ),
        ("  AssumeRole calls during the run", *trio("assume_role_calls"), "", ""),
        ("  blocked per refresh", per_refresh(bc), per_refresh(od), per_refresh(bg), "", ""),
        (
            "  requests (errors)",
            *(f"{r['requests']} ({r['errors']})" for r in (bc, od, bg)),
            "",
            "",
        ),
        ("  latency p50, ms", *trio("p50_ms", "{:.1f}"), "", ""),
        ("  latency p99, ms", *trio("p99_ms", "{:.1f}"), "", ""),
        ("  latency max, ms", *trio("max_ms", "{:.0f}"), "< 1500", mark(clean(od) and clean(bg))),
        (
            "  requests signed with an expired key",
            *trio("expired_signings"),
            "0",
            mark(od["expired_signings"] == 0 and bg["expired_signings"] == 0),
        ),
        (
            f"AssumeRole calls, {ROUND_THREADS} threads x {ROUNDS} refreshes",
            "-" if bc_calls is None else str(bc_calls),
            "-" if rs_calls is None else str(rs_calls),
            "",
            f"{GOAL_ROUND_CALLS}",
            mark(rs_calls == GOAL_ROUND_CALLS),
        ),
        (
            f"  slowest of {ROUND_THREADS} reads in a round, ms",
            f"{bc_rounds.get('slowest_read_ms', float('nan')):.1f}",
            f"{rs_rounds.get('slowest_read_ms', float('nan')):.1f}",
            "",
            "",
            "",
        ),
    ]
    header = ("measure", "botocore", "rs on-demand", "rs background", "goal", "")
    print_table(rows, header)
    config = refresh["config"]
    print(
        f"load runs (one after another): credentials live {config['lifetime_s']} s (the proxy "
        f"rewrites Expiration to floor(now + {config['lifetime_s']})), AssumeRole delayed "
        f"{config['sts_delay_s']:g} s, {config['threads']} threads x list_objects_v2 with a "
        f"{config['pause_s'] * 1e3:.0f} ms pause for {config['seconds']:g} s after an undelayed "
        f"first fetch; blocked = took >= {config['blocked_s']:g} s (a request that waited on STS "
        f"takes >= {config['sts_delay_s']:g} s)"
    )
    print(f"  botocore: {bc['setup']}")
    for label, run in (("on-demand", od), ("background", bg)):
        if run["advisory_s"]:
            (a0, a1), (m0, m1) = run["advisory_s"], run["mandatory_s"]
            print(
                f"  refreshsts {label}: windows sized per credential from its lifetime (issue "
                f"to expiry, STS wait included): advisory {a0:.2f}-{a1:.2f} s, mandatory "
                f"{m0:.2f}-{m1:.2f} s before expiry; refreshes: "
                + (
                    ", ".join(
                        f"{e['window']} at +{e['at_s']:.1f} s ({e['latency_s']:.2f} s)"
                        for e in run["refresh_events"]
                        if e["kind"] == "succeeded" and e["at_s"] >= 0
                    )
                    or "none"
                )
            )
    for label, run in (
        ("botocore", bc),
        ("refreshsts on-demand", od),
        ("refreshsts background", bg),
    ):
        for item in run["blocked_requests"][:4]:
            left = item["seconds_left_at_start"]
            print(
                f"  {label} blocked: thread {item['thread']} at +{item['at_s']:.2f} s took "
                f"{item['took_s']:.2f} s; credentials in hand had "
                + ("none" if left is None else f"{left:.2f} s left ({item['window_at_start']}")
                + (
                    ""
                    if left is None
                    else f", advisory {item['advisory_s']:.2f} s / mandatory "
                    f"{item['mandatory_s']:.2f} s)"
                )
                + (
                    f"; events: {'; '.join(item['refresh_events'])}"
                    if item["refresh_events"]
                    else ""
                )
            )
        if len(run["blocked_requests"]) > 4:
            print(f"  {label}: {len(run['blocked_requests']) - 4} more blocked (see --json)")
        if run["errors"]:
            print(f"  {label}: {run['errors']} request(s) failed: {run['error_examples'][0]}")
        if run["expired_signings"]:
            print(f"  {label}: expired signings: {'; '.join(run['expired_examples'])}")
        if not run["assume_role_calls"]:
            print(f"  {label}: no refresh happened during the run; the run shows nothing")
    print(
        f"{ROUND_THREADS}-thread run: credentials live ~{config['round_lifetime_s']} s "
        f"(floor(now + {config['round_lifetime_s']}), so 2-3 s), no STS delay; each of "
        f"{ROUNDS} rounds releases {ROUND_THREADS} threads together "
        f"{config['round_released_s_past_advisory']:g} s past the advisory point, then waits "
        "for the refresh; refreshsts (OnDemandRefresh, NoCache) and botocore run at the same "
        "time, their AssumeRole calls told apart by the signing key (botocore's source profile "
        f"is a second access key of the same user); first fetches not counted"
    )
    if "setup" in bc_rounds:
        print(f"  botocore: {bc_rounds['setup']}")
    for label, result in (("refreshsts", rs_rounds), ("botocore", bc_rounds)):
        if "failed" in result:
            print(f"  {label}: the run failed: {result['failed']}")
            continue
        per_round = [r["calls"] for r in result["rounds"]]
        print(
            f"  {label}: calls per round {per_round}; rounds without a refresh "
            f"{result['rounds_without_refresh']}; released "
            + ", ".join(f"{r['released_s_before_expiry']:.2f}" for r in result["rounds"])
            + " s before expiry"
            + (
                f"; {result['error_count']} read(s) failed: {result['errors'][0]}"
                if result["errors"]
                else ""
            )
        )
    print(f"refresh section: {refresh['seconds']:.1f} s")

    goals: list[dict[str, Any]] = [
        {
            "goal": f"no request blocked by a refresh, OnDemandRefresh ({HAMMER_LIFETIME} s "
            f"credentials, STS {STS_DELAY:g} s, {HAMMER_THREADS} threads, {HAMMER_SECONDS:g} s)",
            "value": od["blocked"],
            "botocore": bc["blocked"],
            "refreshes": od["assume_role_calls"],
            "pass": clean(od),
        },
        {
            "goal": "no request blocked by a refresh, BackgroundRefresh (same run)",
            "value": bg["blocked"],
            "botocore": bc["blocked"],
            "refreshes": bg["assume_role_calls"],
            "pass": clean(bg),
        },
        {
            "goal": "no request signed with an expired key (both refreshsts strategies)",
            "value": od["expired_signings"] + bg["expired_signings"],
            "pass": od["expired_signings"] + bg["expired_signings"] == 0,
        },
        {
            "goal": f"AssumeRole calls for {ROUND_THREADS} threads through {ROUNDS} refreshes "
            f"== {GOAL_ROUND_CALLS}",
            "value": rs_calls,
            "botocore": bc_calls,
            "pass": rs_calls == GOAL_ROUND_CALLS,
        },
    ]
    print_goals(goals)
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON here")
    parser.add_argument(
        "--iterations", type=int, default=30, help="new-session iterations per side (default 30)"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a goal is missed"
    )
    parser.add_argument(
        "--only",
        choices=("core", "caches", "refresh", "all"),
        default="all",
        help="core: sessions and credentials (1-3); caches: cache backends (4); "
        "refresh: refresh under load (5, ~70 s); default all",
    )
    args = parser.parse_args(argv)
    run_core = args.only in ("core", "all")
    run_caches = args.only in ("caches", "all")
    run_refresh = args.only in ("refresh", "all")

    info = versions()
    print("  ".join(f"{k} {v}" for k, v in info.items()))
    started = time.perf_counter()
    isolate_environment()
    os.environ.pop(KEY_ENV, None)  # the plain FileCache rows must stay plain
    calls = frozen = session = caches = refresh = None
    with tempfile.TemporaryDirectory(prefix="refreshsts-bench-") as tmp:
        bench, server, proxy = setup(Path(tmp) / "home")
        try:
            print(
                f"moto server {server.url}, STS proxy {proxy.url} "
                f"(setup {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            if run_core:
                calls = bench_assume_role_calls(bench)
                frozen = bench_frozen(bench)
                session = bench_new_session(bench, args.iterations)
            if run_caches:
                caches = bench_caches(bench, Path(tmp))
            if run_refresh:  # last: it creates a second access key and a profile on it
                refresh = bench_refresh(bench)
        finally:
            proxy.stop()
            server.stop()
    goals: list[dict[str, Any]] = []
    if calls is not None and frozen is not None and session is not None:
        goals += report(calls, frozen, session)
    if caches is not None:
        goals += report_caches(caches)
    if refresh is not None:
        goals += report_refresh(refresh)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.1f} s")
    if args.json:
        payload = {
            "versions": info,
            "assume_role_calls": calls,
            "get_frozen_credentials": frozen,
            "new_session": session,
            "caches": caches,
            "refresh": refresh,
            "goals": goals,
            "seconds": total,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    missed = [goal["goal"] for goal in goals if not goal["pass"]]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
