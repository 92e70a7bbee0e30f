"""Data pipelines on refreshing credentials, side by side, in one run on a local moto server.

    python benchmarks/run.py --only pipelines [--dask-seconds S] [--lag-seconds S] [--json PATH]

Starts a moto server on 127.0.0.1 (IAM auth on after the world is built), the recording
StsProxy in front of it rewriting every Expiration to 12 s (AWS_ENDPOINT_URL points at the
proxy, so S3 requests are recorded too), a cross-account chain (user -> hub -> data-reader with
an ExternalId) and a 3-file parquet dataset, then measures (~4 min on an idle 2-core machine):

1. A 3-worker `distributed.LocalCluster` (processes) reading the dataset with
   `dd.read_parquet` in a loop for 45 s (keys rotate every ~8 s), three ways:
   - `frozen`: s3fs's usual way, keys fetched once and passed as `key/secret/token`;
   - `profiles`: a botocore `role_arn` profile chain in every process (`profile=` storage
     option), with aiobotocore's refresh windows scaled to the 12-s lifetime (advisory 4 s,
     mandatory 1.2 s) in the driver and each worker, as refreshsts scales its own;
   - `refreshsts`: `session.storage_options()` on a shared `FileCache`.
   Reported: reads, wrong answers, failed reads, AssumeRole calls, distinct keys that signed
   S3 requests, and requests signed with a key past its Expiration (moto never expires keys;
   AWS would answer ExpiredToken to each).
2. Event-loop lag while credentials refresh, AssumeRole delayed 2 s, one task listing the
   bucket every 50 ms for 25 s and a ticker measuring how late each 2-ms sleep wakes:
   `refreshsts.aio.RefreshableSession` vs the ~20 lines of glue users write around
   aiobotocore's private `AioDeferredRefreshableCredentials` (its refresh function calls a
   sync boto3 STS chain, as the glue people share does; windows scaled as above).

The fixtures come from the repository's tests/ directory; nothing is copied here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3

import refreshsts
import refreshsts.aio
from fixtures.datasets import (
    EXTERNAL_ID,
    ParquetDataset,
    cross_account_hops,
    s3_signers,
    write_parquet_dataset,
)
from fixtures.moto_server import (
    PROFILE,
    REGION,
    CrossAccountChain,
    MotoServer,
    build_cross_account_chain,
    build_world,
    write_aws_files,
)
from fixtures.sts_proxy import StsProxy

from .harness import print_goals

LIFETIME = 12
CHAIN_PROFILE = "bench-data"
ADVISORY, MANDATORY = LIFETIME / 3, LIFETIME / 10


class Setup:
    def __init__(self, home: Path) -> None:
        self.server = MotoServer().start()
        world = build_world(self.server, suffix="-pipelines")
        self.chain: CrossAccountChain = build_cross_account_chain(self.server, world)
        self.dataset: ParquetDataset = write_parquet_dataset(self.server, self.chain)
        self.server.auth_on()
        self.proxy = StsProxy(self.server.url, expiration_seconds=LIFETIME).start()
        files = write_aws_files(home, world.access_key_id, world.secret_access_key, self.proxy.url)
        files.add_config(
            f"[profile bench-hub]\nrole_arn = {self.chain.hub_role_arn}\n"
            f"source_profile = {PROFILE}\nrole_session_name = hop1\nregion = {REGION}\n"
        )
        files.add_config(
            f"[profile {CHAIN_PROFILE}]\nrole_arn = {self.chain.target_role_arn}\n"
            f"source_profile = bench-hub\nexternal_id = {EXTERNAL_ID}\n"
            f"role_session_name = hop2\nregion = {REGION}\n"
        )
        os.environ.update(files.env)

    def session(self, **options: Any) -> refreshsts.RefreshableSession:
        return refreshsts.RefreshableSession(
            *cross_account_hops(self.chain), source=PROFILE, region=REGION, **options
        )

    def close(self) -> None:
        self.proxy.stop()
        self.server.stop()


def scale_aiobotocore_windows() -> None:
    """botocore's 15/10-minute windows would refresh 12-s keys on every request."""
    from aiobotocore.credentials import AioRefreshableCredentials  # noqa: PLC0415

    AioRefreshableCredentials._advisory_refresh_timeout = ADVISORY
    AioRefreshableCredentials._mandatory_refresh_timeout = MANDATORY


def warm_up() -> None:
    """Import what a read needs before the clock starts (seconds per worker on a busy host)."""
    import dask.dataframe  # noqa: F401, PLC0415
    import pyarrow.parquet  # noqa: F401, PLC0415
    import s3fs  # noqa: F401, PLC0415


# 1. Dask ------------------------------------------------------------------------------------


def dask_modes(setup: Setup, cache_dir: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    def frozen() -> dict[str, Any]:
        keys = setup.session(cache=refreshsts.NoCache()).get_credentials().get_frozen_credentials()
        return {"key": keys.access_key, "secret": keys.secret_key, "token": keys.token}

    def profiles() -> dict[str, Any]:
        return {"profile": CHAIN_PROFILE, "client_kwargs": {"region_name": REGION}}

    def refreshing() -> dict[str, Any]:
        return setup.session(cache=refreshsts.FileCache(cache_dir)).storage_options()

    return {"frozen": frozen, "profiles": profiles, "refreshsts": refreshing}


def run_dask(setup: Setup, name: str, options: Callable[[], dict[str, Any]], seconds: float):
    import dask.dataframe as dd  # noqa: PLC0415
    import distributed  # noqa: PLC0415

    setup.proxy.clear()
    reads = wrong = failed = 0
    with (
        distributed.LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.run(scale_aiobotocore_windows)
        client.run(warm_up)
        scale_aiobotocore_windows()
        setup.proxy.clear()
        storage_options = options()
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            try:
                frame = dd.read_parquet(setup.dataset.url, storage_options=storage_options)
                total = int(frame["value"].sum().compute())
                wrong += total != setup.dataset.total
            except Exception as exc:
                if not failed:
                    print(f"  {name}: first failure: {type(exc).__name__}: {exc}"[:300])
                failed += 1
            reads += 1
            time.sleep(0.2)
    row = {
        "mode": name,
        "reads": reads,
        "wrong": wrong,
        "failed": failed,
        "assume_role": setup.proxy.calls("AssumeRole"),
        "s3_keys": len(s3_signers(setup.proxy)),
        "expired_signings": len(setup.proxy.expired_signings()),
    }
    print(
        f"  {name:<11} reads {reads:>3}  wrong {wrong}  failed {failed:>3}  "
        f"AssumeRole {row['assume_role']:>3}  S3 keys {row['s3_keys']:>2}  "
        f"expired-key requests {row['expired_signings']:>4}"
    )
    return row


# 2. Event-loop lag ----------------------------------------------------------------------------


def glue_session(setup: Setup) -> Any:
    """The glue users write today: a sync STS chain behind aiobotocore's deferred credentials."""
    from aiobotocore.credentials import AioDeferredRefreshableCredentials  # noqa: PLC0415
    from aiobotocore.session import AioSession  # noqa: PLC0415

    source = boto3.Session(profile_name=PROFILE, region_name=REGION)

    async def refresh() -> dict[str, str]:
        hub = source.client("sts").assume_role(
            RoleArn=setup.chain.hub_role_arn, RoleSessionName="hop1"
        )["Credentials"]
        data = boto3.client(
            "sts",
            region_name=REGION,
            aws_access_key_id=hub["AccessKeyId"],
            aws_secret_access_key=hub["SecretAccessKey"],
            aws_session_token=hub["SessionToken"],
        ).assume_role(
            RoleArn=setup.chain.target_role_arn, RoleSessionName="hop2", ExternalId=EXTERNAL_ID
        )["Credentials"]
        return {
            "access_key": data["AccessKeyId"],
            "secret_key": data["SecretAccessKey"],
            "token": data["SessionToken"],
            "expiry_time": data["Expiration"].isoformat(),
        }

    session = AioSession()
    session.set_config_variable("region", REGION)
    session._credentials = AioDeferredRefreshableCredentials(
        refresh_using=refresh, method="sts-assume-role"
    )
    return session


def loop_lag(setup: Setup, name: str, session: Any, seconds: float) -> dict[str, Any]:
    async def main() -> tuple[list[float], int]:
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                before = loop.time()
                await asyncio.sleep(0.002)
                lags.append(loop.time() - before - 0.002)

        listings = 0
        async with session.create_client("s3") as s3:
            await s3.list_objects_v2(Bucket=setup.chain.bucket)
            setup.proxy.set_delay(2.0, action="AssumeRole")
            tick = asyncio.create_task(ticker())
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await s3.list_objects_v2(Bucket=setup.chain.bucket)
                listings += 1
                await asyncio.sleep(0.05)
            done.set()
            await tick
        return lags, listings

    setup.proxy.heal()
    setup.proxy.clear()
    scale_aiobotocore_windows()
    lags, listings = asyncio.run(main())
    setup.proxy.heal()
    lags.sort()
    row = {
        "session": name,
        "listings": listings,
        "ticks": len(lags),
        "p50_ms": statistics.median(lags) * 1000,
        "p99_ms": lags[int(len(lags) * 0.99)] * 1000,
        "max_ms": lags[-1] * 1000,
        "stalls_over_100ms": sum(lag > 0.1 for lag in lags),
        "assume_role": setup.proxy.calls("AssumeRole"),
        "expired_signings": len(setup.proxy.expired_signings()),
    }
    print(
        f"  {name:<15} listings {listings:>4}  lag p50 {row['p50_ms']:6.1f} ms  "
        f"p99 {row['p99_ms']:7.1f} ms  max {row['max_ms']:7.1f} ms  "
        f"stalls>100ms {row['stalls_over_100ms']:>3}  AssumeRole {row['assume_role']:>2}  "
        f"expired-key requests {row['expired_signings']}"
    )
    return row


@contextlib.contextmanager
def bench_setup() -> Iterator[Setup]:
    with tempfile.TemporaryDirectory(prefix="refreshsts-pipelines-") as tmp:
        setup = Setup(Path(tmp) / "home")
        try:
            yield setup
        finally:
            setup.close()


def bench_pipelines(dask_seconds: float, lag_seconds: float) -> dict[str, Any]:
    """Every data-pipeline figure on a world of its own; the environment is restored."""
    import cloudpickle  # noqa: PLC0415

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack bench/
    saved = dict(os.environ)
    results: dict[str, Any] = {"when": dt.datetime.now(dt.timezone.utc).isoformat()}
    try:
        with bench_setup() as setup, tempfile.TemporaryDirectory() as cache_dir:
            print(f"\nDask, 3 workers, {LIFETIME}-s credentials, reading for {dask_seconds:g} s")
            results["dask"] = [
                run_dask(setup, name, options, dask_seconds)
                for name, options in dask_modes(setup, Path(cache_dir)).items()
            ]
            print(f"Event-loop lag during refreshes, AssumeRole delayed 2 s, {lag_seconds:g} s")
            results["loop_lag"] = [
                loop_lag(
                    setup,
                    "refreshsts.aio",
                    refreshsts.aio.RefreshableSession(
                        *cross_account_hops(setup.chain),
                        source=PROFILE,
                        region=REGION,
                        cache=refreshsts.NoCache(),
                    ),
                    lag_seconds,
                ),
                loop_lag(setup, "aiobotocore glue", glue_session(setup), lag_seconds),
            ]
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return results


def report_pipelines(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Goals: refreshsts signs no S3 request with an expired key, its cluster makes a few
    AssumeRole calls per rotation, and a refresh never stalls the event loop 100 ms."""
    dask = {row["mode"]: row for row in results["dask"]}
    lag = {row["session"]: row for row in results["loop_lag"]}
    ours, profiles = dask["refreshsts"], dask["profiles"]
    goals = [
        {
            "goal": "Dask with refreshsts: 0 expired-key requests, 0 wrong or failed reads",
            "value": ours["expired_signings"] + ours["wrong"] + ours["failed"],
            "pass": ours["expired_signings"] == 0 and not ours["wrong"] and not ours["failed"],
        },
        {
            "goal": "Dask with refreshsts: fewer AssumeRole calls than a profile per worker",
            "value": ours["assume_role"],
            "pass": ours["assume_role"] < profiles["assume_role"],
        },
        {
            "goal": "refreshsts.aio: no event-loop stall over 100 ms during refreshes",
            "value": lag["refreshsts.aio"]["stalls_over_100ms"],
            "pass": lag["refreshsts.aio"]["stalls_over_100ms"] == 0,
        },
    ]
    print_goals(goals)
    return goals
