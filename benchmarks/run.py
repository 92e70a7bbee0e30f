#!/usr/bin/env python
"""refreshsts vs a botocore `role_arn` profile, side by side, in one run on a local moto server.

    python benchmarks/run.py [--json PATH] [--iterations N]

Starts a moto server on 127.0.0.1 (IAM auth on after the seed world is built) and a recording
StsProxy in front of it (AWS_ENDPOINT_URL points at the proxy, so every AssumeRole is counted),
writes isolated AWS files into a temporary HOME, then measures, interleaving the two sides:

1. AssumeRole calls for 200 S3 requests on 900-second credentials.
2. `get_frozen_credentials()` per call (fresh 1 h credentials; and 900 s ones).
3. New session + first S3 client (ms), and new session + first request.

The fixtures come from the repository's tests/ directory; nothing is copied here.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore
import moto

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
from refreshsts import AssumeRole, MemoryCache, RefreshableSession  # noqa: E402

BOTOCORE_PROFILE = "botocore-role"  # duration_seconds = 900
BOTOCORE_PROFILE_1H = "botocore-role-1h"  # duration_seconds = 3600
REQUESTS = 200
FROZEN_CALLS = 100_000
FROZEN_REPEATS = 5
SLOW_FROZEN_CALLS = 20  # botocore at 900 s: every call is an AssumeRole round trip

GOAL_FROZEN_US = 1.0
GOAL_FROZEN_RATIO = 1 / 8
GOAL_SESSION_RATIO = 1 / 4


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
    def __init__(self, server: MotoServer, proxy: StsProxy, world: Any) -> None:
        self.server = server
        self.proxy = proxy
        self.world = world

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
    return Bench(server, proxy, world), server, proxy


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


# -- report ------------------------------------------------------------------------------------


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
    header = ("measure", "botocore", "refreshsts", "ratio rs/bc", "goal", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(line)
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
    print()
    for goal in goals:
        value = goal["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {mark(goal['pass'])}  {goal['goal']}  ({shown})")
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
    args = parser.parse_args(argv)

    info = versions()
    print("  ".join(f"{k} {v}" for k, v in info.items()))
    started = time.perf_counter()
    isolate_environment()
    with tempfile.TemporaryDirectory(prefix="refreshsts-bench-") as tmp:
        bench, server, proxy = setup(Path(tmp) / "home")
        try:
            print(
                f"moto server {server.url}, STS proxy {proxy.url} "
                f"(setup {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            calls = bench_assume_role_calls(bench)
            frozen = bench_frozen(bench)
            session = bench_new_session(bench, args.iterations)
        finally:
            proxy.stop()
            server.stop()
    goals = report(calls, frozen, session)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.1f} s")
    if args.json:
        payload = {
            "versions": info,
            "assume_role_calls": calls,
            "get_frozen_credentials": frozen,
            "new_session": session,
            "goals": goals,
            "seconds": total,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    missed = [goal["goal"] for goal in goals if not goal["pass"]]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
