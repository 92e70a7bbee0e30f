"""A real 3-process Dask cluster reads the cross-account dataset across credential rotations."""

from __future__ import annotations

import os
import time

import pytest

import refreshsts
from fixtures.datasets import cross_account_hops
from fixtures.moto_server import PROFILE, REGION

pytest.importorskip("s3fs")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

ROTATIONS = 3


def _cache(kind, tmp_path, request, monkeypatch):
    if kind == "file":
        return refreshsts.FileCache(tmp_path / "cache")
    redis_url = request.getfixturevalue("redis_url")
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", refreshsts.generate_key())
    return refreshsts.RedisCache(redis_url)


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("kind", ["file", "redis"])
def test_cluster_reads_across_rotations_with_one_sts_call_per_hop_per_rotation(
    kind,
    cross_account_chain,
    parquet_dataset,
    proxied_aws_env,
    sts_proxy,
    tmp_path,
    request,
    monkeypatch,
):
    sts_proxy.expiration_seconds = 12
    cache = _cache(kind, tmp_path, request, monkeypatch)
    session = refreshsts.RefreshableSession(
        *cross_account_hops(cross_account_chain), source=PROFILE, region=REGION, cache=cache
    )
    dataset = parquet_dataset
    with (
        distributed.LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        reads, answers = 0, set()
        started = time.monotonic()
        while True:
            signers = {r.access_key_id for r in sts_proxy.requests if r.service == "s3"}
            if len(signers) > ROTATIONS or time.monotonic() - started > 100:
                break
            frame = dd.read_parquet(dataset.url, storage_options=session.storage_options())
            answers.add(int(frame["value"].sum().compute()))
            reads += 1
            time.sleep(0.2)
        workers = client.run(os.getpid)
    assert answers == {dataset.total}
    assert len(set(workers.values()) - {os.getpid()}) == 3
    assert sts_proxy.expired_signings() == []
    assert len(signers) > ROTATIONS, f"only {len(signers) - 1} rotations in {reads} reads"
    hops = len(session.hops)
    assume_role = sts_proxy.calls("AssumeRole")
    # One AssumeRole per hop per set of keys for the whole cluster (driver + 3 workers),
    # where per-worker caching would make about 4x as many.
    assert assume_role <= hops * (len(signers) + 1), (assume_role, len(signers))
