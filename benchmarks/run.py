#!/usr/bin/env python
"""refreshsts vs a botocore `role_arn` profile, side by side, in one run on a local moto server.

    python benchmarks/run.py [--json PATH] [--iterations N] [--check]
                             [--only {core,caches,refresh,accounts,ways,pipelines,all}]

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
6. Many accounts (`--only accounts`, `--accounts N`): memory per live AccountRoles session with
   an S3 client vs a boto3.Session per account (tracemalloc in a subprocess), growth through
   600 accounts with max_sessions=16, ms per account session + client, and AssumeRole calls
   for a scan of N accounts through a hub and a second scan (own moto server, IAM auth off).
7. Data pipelines (`--only pipelines`, ~4 min): a 3-worker Dask job over 12-s credentials with
   frozen keys, a role_arn profile per worker and refreshsts (STS calls, expired-key requests),
   and event-loop lag during refreshes for refreshsts.aio vs glue around aiobotocore.
8. credential_process (`--only ways`, ~40 s): command runs and ms per `aws` command for 20
   `aws sts get-caller-identity` through a plain `credential_process` and through
   `refreshsts cache-process`, and a cache-process hit alone against the command alone.

The fixtures come from the repository's tests/ directory; nothing is copied here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.accounts import bench_accounts, report_accounts
from bench.caches import KEY_ENV, bench_caches, report_caches
from bench.core import bench_assume_role_calls, bench_frozen, bench_new_session, report
from bench.harness import isolate_environment, setup, versions
from bench.refresh import bench_refresh, report_refresh
from bench.ways import bench_credential_process, report_ways


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
        choices=("core", "caches", "refresh", "accounts", "ways", "pipelines", "all"),
        default="all",
        help="core: sessions and credentials (1-3); caches: cache backends (4); "
        "refresh: refresh under load (5, ~70 s); accounts: many accounts (6); "
        "ways: credential_process through cache-process (8); "
        "pipelines: Dask and asyncio (7, ~4 min, needs the pipelines extra); default all",
    )
    parser.add_argument(
        "--accounts", type=int, default=1000, help="accounts in the many-accounts scan"
    )
    parser.add_argument(
        "--dask-seconds", type=float, default=45.0, help="read loop per Dask mode (>= 3 rotations)"
    )
    parser.add_argument("--lag-seconds", type=float, default=25.0, help="event-loop lag run")
    parser.add_argument(
        "--process-seconds",
        type=float,
        default=1.0,
        help="how long the benchmark's credential_process takes (a sign-in helper: ~1 s)",
    )
    args = parser.parse_args(argv)
    run_core = args.only in ("core", "all")
    run_caches = args.only in ("caches", "all")
    run_refresh = args.only in ("refresh", "all")
    run_accounts = args.only in ("accounts", "all")
    run_pipelines = args.only in ("pipelines", "all")
    run_ways = args.only in ("ways", "all")

    info = versions()
    print("  ".join(f"{k} {v}" for k, v in info.items()))
    started = time.perf_counter()
    isolate_environment()
    os.environ.pop(KEY_ENV, None)  # the plain FileCache rows must stay plain
    calls = frozen = session = caches = refresh = accounts = pipelines = ways = None
    if run_core or run_caches or run_refresh or run_ways:
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
                if run_ways:
                    ways = bench_credential_process(bench, Path(tmp), delay=args.process_seconds)
                if run_refresh:  # last: it creates a second access key and a profile on it
                    refresh = bench_refresh(bench)
            finally:
                proxy.stop()
                server.stop()
    if run_accounts:  # its own server: IAM auth off, a thousand accounts
        accounts = bench_accounts(args.accounts)
    if run_pipelines:  # its own world; imported here, since it needs the pipelines extra
        from bench.pipelines import bench_pipelines  # noqa: PLC0415

        pipelines = bench_pipelines(args.dask_seconds, args.lag_seconds)
    goals: list[dict[str, Any]] = []
    if calls is not None and frozen is not None and session is not None:
        goals += report(calls, frozen, session)
    if caches is not None:
        goals += report_caches(caches)
    if refresh is not None:
        goals += report_refresh(refresh)
    if accounts is not None:
        goals += report_accounts(accounts)
    if ways is not None:
        goals += report_ways(ways)
    if pipelines is not None:
        from bench.pipelines import report_pipelines  # noqa: PLC0415

        goals += report_pipelines(pipelines)
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
            "accounts": accounts,
            "pipelines": pipelines,
            "credential_process": ways,
            "goals": goals,
            "seconds": total,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    missed = [goal["goal"] for goal in goals if not goal["pass"]]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
