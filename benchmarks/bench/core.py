"""Core figures: AssumeRole calls per 200 requests, get_frozen_credentials(), new sessions."""

from __future__ import annotations

import statistics
import time
from typing import Any

import boto3

from fixtures.moto_server import (
    PROFILE,
    REGION,
)
from refreshsts import (
    AssumeRole,
    MemoryCache,
    RefreshableSession,
)

from .harness import (
    BOTOCORE_PROFILE,
    BOTOCORE_PROFILE_1H,
    Bench,
    interleaved,
    loop_seconds,
    mark,
    print_goals,
    print_table,
    ratio_text,
)

REQUESTS = 200
FROZEN_CALLS = 100_000
FROZEN_REPEATS = 5
SLOW_FROZEN_CALLS = 20  # botocore at 900 s: every call is an AssumeRole round trip

GOAL_FROZEN_US = 1.0
GOAL_FROZEN_RATIO = 1 / 8
GOAL_SESSION_RATIO = 1 / 4


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
