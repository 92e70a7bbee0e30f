"""Many accounts: refreshsts `AccountRoles` next to the same work by hand in boto3, in one run.

    python benchmarks/run.py --only accounts [--accounts N] [--json PATH] [--check]

Starts a moto server on 127.0.0.1 (IAM auth off, no managed policies, so moto meets a
thousand accounts in seconds) with the recording StsProxy in front of it, and measures:

1. Memory per live account session with an S3 client (credentials fetched), by tracemalloc
   in a process of its own (`tests/integration/account_memory.py`): refreshsts (40 sessions
   of one AccountRoles) and boto3 (a `boto3.Session` per account on keys from one shared STS
   client, 8 sessions).
2. Memory growth when AccountRoles(max_sessions=16) visits 600 accounts (from the 100th on).
3. ms to create one more account session + S3 client (no STS call on either side: refreshsts
   fetches on first use, and the boto3 side's keys are fetched outside the timing).
4. STS AssumeRole calls (counted by the proxy) for a scan of N accounts through a hub, and for
   a second scan inside the credentials' windows; boto3 by hand has no cache to reuse.

Accounts are 100000000000 + i: moto answers AssumeRole for a role in an account it has never
seen, so no account needs building. The fixtures come from tests/; nothing is copied here.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore
import moto
from account_memory import (
    HUB_ARN,
    REGION,
    ROLE_TEMPLATE,
    account,
    boto3_session,
    isolated_env,
    run,
)

import refreshsts
from fixtures.moto_server import MotoServer
from fixtures.sts_proxy import StsProxy

from .harness import print_goals

GOAL_BYTES = 128 * 1024
CREATE_ROUNDS = 30
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def scanner(**options: Any) -> refreshsts.AccountRoles:
    return refreshsts.AccountRoles(
        ROLE_TEMPLATE,
        refreshsts.AssumeRole(HUB_ARN, session_name="scanner-hub"),
        session_name="scan",
        region=REGION,
        **options,
    )


def bench_create(proxy_url: str) -> dict[str, Any]:
    """ms for one more account session + S3 client, the two sides interleaved."""
    roles = scanner(cache=refreshsts.MemoryCache(), max_sessions=4 * CREATE_ROUNDS)
    hub = boto3.Session(region_name=REGION).client("sts", endpoint_url=proxy_url)
    keys = hub.assume_role(RoleArn=HUB_ARN, RoleSessionName="bench")["Credentials"]
    counter = iter(range(10**6))

    def ours() -> None:
        roles.session(account(next(counter))).client("s3")

    def theirs() -> None:
        boto3_session(keys).client("s3")

    ours()
    theirs()
    times: dict[str, list[float]] = {"refreshsts": [], "boto3": []}
    for index in range(CREATE_ROUNDS):
        pair: list[tuple[str, Callable[[], None]]] = [("refreshsts", ours), ("boto3", theirs)]
        for name, fn in pair if index % 2 == 0 else reversed(pair):
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1e3)
    return {name: statistics.median(samples) for name, samples in times.items()} | {
        "samples_ms": times
    }


def bench_scan(proxy: StsProxy, accounts: int) -> dict[str, Any]:
    """AssumeRole calls for a scan of `accounts` through a hub, then a second scan."""
    ids = [account(10**6 + index) for index in range(accounts)]
    roles = scanner(cache=refreshsts.MemoryCache(maxsize=accounts + 16))

    def visit(session: refreshsts.RefreshableSession, _account: str) -> None:
        session.get_credentials().get_frozen_credentials()

    proxy.clear()
    started = time.perf_counter()
    failures = [r for _, r in roles.map(visit, ids) if r is not None]
    first_seconds = time.perf_counter() - started
    first = proxy.calls("AssumeRole")
    proxy.clear()
    started = time.perf_counter()
    failures += [r for _, r in roles.map(visit, ids) if r is not None]
    second_seconds = time.perf_counter() - started
    second = proxy.calls("AssumeRole")

    proxy.clear()
    sts = boto3.Session(region_name=REGION).client("sts", endpoint_url=proxy.url)
    for _ in range(2):  # by hand: nothing remembers the keys between scans
        hub = sts.assume_role(RoleArn=HUB_ARN, RoleSessionName="scanner-hub")["Credentials"]
        signed = boto3_session(hub).client("sts", endpoint_url=proxy.url)
        for account_id in ids:
            signed.assume_role(
                RoleArn=ROLE_TEMPLATE.format(account=account_id), RoleSessionName="scan"
            )
    by_hand = proxy.calls("AssumeRole")
    return {
        "accounts": accounts,
        "refreshsts_first": first,
        "refreshsts_second": second,
        "refreshsts_first_s": first_seconds,
        "refreshsts_second_s": second_seconds,
        "boto3_first": by_hand // 2,
        "boto3_second": by_hand - by_hand // 2,
        "failures": [repr(f) for f in failures[:5]],
    }


def report_accounts(results: dict[str, Any]) -> list[dict[str, Any]]:
    memory, boto, bounded = results["memory"], results["boto3_memory"], results["bounded"]
    create, scan = results["create"], results["scan"]
    per_rs = memory["bytes_per_session"] / 1024
    per_b3 = boto["bytes_per_session"] / 1024
    growth = bounded["growth_bytes"] / 1024
    rows = [
        ("Measure", "boto3 by hand", "refreshsts", "Goal"),
        (
            "memory per live account session + S3 client",
            f"{per_b3:,.0f} KiB",
            f"{per_rs:,.1f} KiB",
            "<= 128 KiB",
        ),
        (
            f"growth visiting {bounded['accounts_after_mark']} more accounts, max_sessions=16",
            "n/a",
            f"{growth:,.0f} KiB",
            f"<= 16 sessions ({16 * per_rs:,.0f} KiB)",
        ),
        (
            "ms to create an account session + S3 client",
            f"{create['boto3']:.1f} ms",
            f"{create['refreshsts']:.1f} ms",
            "",
        ),
        (
            f"AssumeRole calls, scan of {scan['accounts']:,} accounts via a hub",
            f"{scan['boto3_first']:,}",
            f"{scan['refreshsts_first']:,} ({scan['refreshsts_first_s']:.1f} s)",
            f"{scan['accounts'] + 1:,}",
        ),
        (
            "AssumeRole calls, second scan inside the windows",
            f"{scan['boto3_second']:,}",
            f"{scan['refreshsts_second']:,} ({scan['refreshsts_second_s']:.1f} s)",
            "0",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        f"\nPython {platform.python_version()}, boto3/botocore {boto3.__version__}/"
        f"{botocore.__version__}, moto {moto.__version__}, {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    goals = [
        {
            "goal": "memory per account session + S3 client <= 128 KiB",
            "value": memory["bytes_per_session"] / 1024,
            "pass": memory["bytes_per_session"] <= GOAL_BYTES,
        },
        {
            "goal": "growth over 600 accounts with max_sessions=16 <= 16 sessions",
            "value": bounded["growth_bytes"] / 1024,
            "pass": bounded["growth_bytes"] <= 16 * GOAL_BYTES,
        },
        {
            "goal": "first scan through a hub == accounts + 1 AssumeRole calls",
            "value": scan["refreshsts_first"],
            "pass": scan["refreshsts_first"] == scan["accounts"] + 1,
        },
        {
            "goal": "second scan inside the windows == 0 AssumeRole calls",
            "value": scan["refreshsts_second"],
            "pass": scan["refreshsts_second"] == 0,
        },
        {
            "goal": "no failed account",
            "value": len(scan["failures"]) + len(memory["failures"]),
            "pass": not (scan["failures"] or memory["failures"]),
        },
    ]
    print_goals(goals)
    return goals


def bench_accounts(accounts: int) -> dict[str, Any]:
    """Every many-accounts figure, on a moto server of its own (IAM auth off, no managed
    policies, so moto meets a thousand accounts in seconds); the environment is restored."""
    saved = dict(os.environ)
    try:
        with MotoServer(managed_policies=False) as server, StsProxy(server.url) as proxy:
            os.environ.clear()
            os.environ.update(isolated_env(proxy.url))
            return {
                "memory": run("refreshsts", 40, proxy.url),
                "boto3_memory": run("boto3", 8, proxy.url),
                "bounded": run("bounded", 600, proxy.url),
                "create": bench_create(proxy.url),
                "scan": bench_scan(proxy, accounts),
            }
    finally:
        os.environ.clear()
        os.environ.update(saved)
