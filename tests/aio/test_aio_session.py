"""refreshsts.aio.RefreshableSession against the moto server, through the recording proxy."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import threading
import time

import pytest

from fixtures.datasets import cross_account_hops
from fixtures.moto_server import PROFILE, REGION
from refreshsts import AssumeRole, MemoryCache, NoCache

pytest.importorskip("aiobotocore")

from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession

import refreshsts
import refreshsts.aio


def aio_session(chain, **options):
    options = {"source": PROFILE, "region": REGION, "cache": NoCache(), **options}
    return refreshsts.aio.RefreshableSession(*cross_account_hops(chain), **options)


async def ticking(work):
    """Await `work` beside a ticker; (its result, how late each 2-ms sleep woke up)."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker():
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.002)
            lags.append(loop.time() - before - 0.002)

    tick = asyncio.create_task(ticker())
    try:
        return await work, lags
    finally:
        done.set()
        await tick


def test_import_refreshsts_never_imports_the_optional_tools():
    code = (
        "import sys, refreshsts, refreshsts.integrations\n"
        "heavy = {'aiobotocore', 's3fs', 'fsspec', 'dask', 'distributed', 'polars', "
        "'pyarrow', 'duckdb', 'pandas'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_is_an_aiobotocore_session_with_refreshable_credentials(aws_env):
    session = refreshsts.aio.RefreshableSession(
        AssumeRole("arn:aws:iam::123456789012:role/r"), source=PROFILE, region=REGION
    )
    assert isinstance(session, AioSession)
    credentials = asyncio.run(session.get_credentials())
    assert isinstance(credentials, AioRefreshableCredentials)
    assert credentials.sync is session.sync.get_credentials()
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(credentials)
    with pytest.raises(TypeError, match="takes its credentials"):
        session.set_credentials("a", "b")


def test_bad_input_is_refused_before_any_network_call(aws_env):
    with pytest.raises(refreshsts.ConfigurationError, match="region="):
        refreshsts.aio.RefreshableSession(
            AssumeRole("arn:aws:iam::123456789012:role/r"), source=PROFILE, region="nowhere"
        )
    with pytest.raises(TypeError, match=r"not a refreshsts\.RefreshableSession"):
        refreshsts.aio.RefreshableSession.from_session(object())  # type: ignore[arg-type]


def test_lists_a_cross_account_bucket(cross_account_chain, proxied_aws_env, sts_proxy):
    chain = cross_account_chain
    session = aio_session(chain)

    async def main():
        async with session.create_client("s3") as s3:
            listing = await s3.list_objects_v2(Bucket=chain.bucket)
            async with session.create_client("sts") as sts:
                identity = await sts.get_caller_identity()
        return [item["Key"] for item in listing["Contents"]], identity["Arn"]

    keys, arn = asyncio.run(main())
    assert keys == [chain.object_key]
    assert arn.endswith(f":assumed-role/{chain.target_role_name}/hop2")
    assert [r.params.get("ExternalId") for r in sts_proxy.records("AssumeRole")] == [
        None,
        "xyz-123",
    ]


def test_sync_and_async_sessions_share_one_sts_call_per_hop(
    cross_account_chain, proxied_aws_env, sts_proxy
):
    chain = cross_account_chain
    cache = MemoryCache()
    sync = refreshsts.RefreshableSession(
        *cross_account_hops(chain), source=PROFILE, region=REGION, cache=cache
    )
    sync.client("s3").list_objects_v2(Bucket=chain.bucket)
    session = aio_session(chain, cache=cache)

    async def main():
        async with session.create_client("s3") as s3:
            await s3.list_objects_v2(Bucket=chain.bucket)

    asyncio.run(main())
    assert sts_proxy.calls("AssumeRole") == 2
    signers = {r.access_key_id for r in sts_proxy.records(f"GET /{chain.bucket}")}
    assert len(signers) == 1


def test_pickles_as_its_recipe_without_a_secret(cross_account_chain, proxied_aws_env, sts_proxy):
    chain = cross_account_chain
    session = aio_session(chain)

    async def listing(s):
        async with s.create_client("s3") as s3:
            return (await s3.list_objects_v2(Bucket=chain.bucket))["KeyCount"]

    assert asyncio.run(listing(session)) == 1
    current = session.sync.get_credentials().credentials
    data = pickle.dumps(session)
    for secret in (current.access_key_id, current.secret_access_key, current.session_token):
        assert secret.encode() not in data
    copy = pickle.loads(data)
    assert isinstance(copy, refreshsts.aio.RefreshableSession)
    assert copy.hops == session.hops
    assert repr(copy) == repr(session)
    assert copy.__dask_tokenize__() == session.__dask_tokenize__()
    assert asyncio.run(listing(copy)) == 1


@pytest.mark.slow
def test_rotates_for_25_s_without_stalling_the_loop_or_using_an_expired_key(
    cross_account_chain, proxied_aws_env, sts_proxy
):
    """STS answers in 2 s; the ticker shows the event loop never waits for it."""
    chain = cross_account_chain
    sts_proxy.expiration_seconds = 12
    session = aio_session(chain)

    async def main():
        listings = 0
        async with session.create_client("s3") as s3:
            await s3.list_objects_v2(Bucket=chain.bucket)
            sts_proxy.set_delay(2.0, action="AssumeRole")
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                listing = await s3.list_objects_v2(Bucket=chain.bucket)
                assert listing["KeyCount"] == 1
                listings += 1
                await asyncio.sleep(0.05)
        return listings

    listings, lags = asyncio.run(ticking(main()))
    assert listings > 100
    assert sts_proxy.expired_signings() == []
    signers = {r.access_key_id for r in sts_proxy.records(f"GET /{chain.bucket}")}
    assert len(signers) >= 3, "credentials must have rotated at least twice"
    assert [r.duration >= 2.0 for r in sts_proxy.records("AssumeRole")][2:] == [True] * (
        sts_proxy.calls("AssumeRole") - 2
    )
    lags.sort()
    p99, worst = lags[int(len(lags) * 0.99)], lags[-1]
    figures = f"p99 {p99 * 1000:.1f} ms, worst {worst * 1000:.0f} ms over {len(lags)} ticks"
    # Waiting for STS would stall the loop 2000 ms; what remains is this busy 2-core
    # machine's scheduling noise (a few ms when idle), so the bound sits well below 2 s.
    assert worst < 0.5, f"the loop stalled: {figures}"
    assert p99 < 0.05, figures


def test_fifty_tasks_on_a_cold_session_share_one_fetch_while_sts_takes_2_s(
    cross_account_chain, proxied_aws_env, sts_proxy, monkeypatch
):
    """The first fetch blocks on STS (the mandatory window): one worker thread, no stall."""
    chain = cross_account_chain
    session = aio_session(chain)
    final = session.sync.get_credentials()
    fetching_threads: list[int] = []
    fetch = final.get_frozen_credentials

    def recorded():
        fetching_threads.append(threading.get_ident())
        return fetch()

    monkeypatch.setattr(final, "get_frozen_credentials", recorded)
    sts_proxy.set_delay(2.0, action="AssumeRole")

    async def main():
        async with session.create_client("s3") as s3:
            listings = await asyncio.gather(
                *(s3.list_objects_v2(Bucket=chain.bucket) for _ in range(50))
            )
        return [listing["KeyCount"] for listing in listings]

    counts, lags = asyncio.run(ticking(main()))
    assert counts == [1] * 50
    assert sts_proxy.calls("AssumeRole") == 2
    assert len(fetching_threads) == 1, f"{len(fetching_threads)} worker threads fetched"
    assert max(lags) < 0.5, f"the loop stalled {max(lags) * 1000:.0f} ms"


def test_from_profile_reads_the_role_chain_of_a_profile(world, proxied_aws_env, sts_proxy):
    proxied_aws_env.add_config(
        f"[profile reader]\nrole_arn = {world.role_arn}\nsource_profile = {PROFILE}\n"
    )
    session = refreshsts.aio.RefreshableSession.from_profile(
        "reader", region=REGION, cache=NoCache()
    )
    assert [hop.role_arn for hop in session.hops] == [world.role_arn]

    async def main():
        async with session.create_client("s3") as s3:
            return (await s3.list_objects_v2(Bucket=world.bucket))["KeyCount"]

    assert asyncio.run(main()) == 1
    assert sts_proxy.calls("AssumeRole") == 1


def test_an_expired_token_answer_forces_one_refresh_and_one_retry_on_an_aio_client(
    cross_account_chain, proxied_aws_env, sts_proxy
):
    """S3 says ExpiredToken for keys refreshsts thinks valid: refresh on a thread, resend."""
    chain = cross_account_chain
    session = aio_session(chain)
    expired = ("error", "ExpiredToken", "The provided token has expired.", 400)

    async def main():
        async with session.create_client("s3") as s3:
            await s3.list_objects_v2(Bucket=chain.bucket)
            first = (await session.get_credentials()).access_key
            calls = sts_proxy.calls("AssumeRole")
            sts_proxy.inject(expired, action=f"GET /{chain.bucket}")
            listing = await s3.list_objects_v2(Bucket=chain.bucket)
            assert listing["KeyCount"] == 1
            assert sts_proxy.calls("AssumeRole") == calls + 1, "one forced refresh of the last hop"
            assert (await session.get_credentials()).access_key != first
            sts_proxy.inject(expired, expired, action=f"GET /{chain.bucket}")
            with pytest.raises(Exception, match="ExpiredToken"):
                await s3.list_objects_v2(Bucket=chain.bucket)
            assert sts_proxy.calls("AssumeRole") == calls + 2, "one retry per request, no loop"

    asyncio.run(main())
    signers = [r.access_key_id for r in sts_proxy.records(f"GET /{chain.bucket}")]
    assert signers[1] != signers[2], "the retry was signed with the refreshed keys"
