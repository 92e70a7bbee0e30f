"""`RefreshableSession.storage_options()` with s3fs and pandas, through the recording proxy."""

from __future__ import annotations

import pickle

import pytest

import refreshsts
from fixtures.datasets import cross_account_hops
from fixtures.moto_server import PROFILE, REGION
from refreshsts import NoCache

s3fs = pytest.importorskip("s3fs")
pd = pytest.importorskip("pandas")

import refreshsts.aio  # noqa: E402 - after the skip when aiobotocore is missing


@pytest.fixture
def session(cross_account_chain, proxied_aws_env):
    s3fs.S3FileSystem.clear_instance_cache()
    with refreshsts.RefreshableSession(
        *cross_account_hops(cross_account_chain), source=PROFILE, region=REGION, cache=NoCache()
    ) as session:
        yield session
    s3fs.S3FileSystem.clear_instance_cache()


def test_storage_options_hold_the_async_twin_and_the_region(session):
    options = session.storage_options()
    assert isinstance(options["session"], refreshsts.aio.RefreshableSession)
    assert options["session"].sync is session
    assert options["client_kwargs"] == {"region_name": REGION}


def test_s3fs_and_pandas_read_through_storage_options(session, cross_account_chain, sts_proxy):
    chain = cross_account_chain
    fs = s3fs.S3FileSystem(**session.storage_options())
    assert fs.cat(f"{chain.bucket}/{chain.object_key}") == chain.object_body
    frame = pd.read_csv(
        f"s3://{chain.bucket}/{chain.object_key}", storage_options=session.storage_options()
    )
    assert frame.to_dict("records") == [{"id": 1, "value": 42}]
    hop2_key = session.get_credentials().get_frozen_credentials().access_key
    s3_signers = {r.access_key_id for r in sts_proxy.requests if r.service == "s3"}
    assert s3_signers == {hop2_key}
    assert sts_proxy.calls("AssumeRole") == 2


def test_a_pickled_filesystem_holds_the_recipe_and_no_secret(
    session, cross_account_chain, sts_proxy
):
    chain = cross_account_chain
    fs = s3fs.S3FileSystem(**session.storage_options())
    fs.ls(chain.bucket)
    current = session.get_credentials().credentials
    data = pickle.dumps(fs)
    for secret in (current.access_key_id, current.secret_access_key, current.session_token):
        assert secret.encode() not in data
    s3fs.S3FileSystem.clear_instance_cache()
    copy = pickle.loads(data)
    assert copy.cat(f"{chain.bucket}/{chain.object_key}") == chain.object_body
    assert copy.storage_options["session"] is not fs.storage_options["session"]


def test_dask_tokens_are_deterministic_per_recipe(session, cross_account_chain, tmp_path):
    dask_base = pytest.importorskip("dask.base")
    same = refreshsts.RefreshableSession(
        *cross_account_hops(cross_account_chain), source=PROFILE, region=REGION, cache=NoCache()
    )
    other = refreshsts.RefreshableSession(
        *cross_account_hops(cross_account_chain),
        source=PROFILE,
        region=REGION,
        cache=refreshsts.FileCache(tmp_path),
    )
    token = dask_base.tokenize(session.storage_options())
    assert token == dask_base.tokenize(same.storage_options())
    assert token != dask_base.tokenize(other.storage_options())
    assert dask_base.tokenize(pickle.loads(pickle.dumps(session))) == dask_base.tokenize(session)


def test_redis_cache_tokenizes_without_its_key(
    cross_account_chain, proxied_aws_env, redis_url, monkeypatch
):
    dask_base = pytest.importorskip("dask.base")
    key = refreshsts.generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)

    def build():
        return refreshsts.RefreshableSession(
            *cross_account_hops(cross_account_chain),
            source=PROFILE,
            region=REGION,
            cache=refreshsts.RedisCache(redis_url),
        )

    session = build()
    assert dask_base.tokenize(session) == dask_base.tokenize(build())
    data = pickle.dumps(session.storage_options())
    assert key.encode() not in data
    twin = pickle.loads(data)["session"]
    assert twin.__dask_tokenize__() == session.storage_options()["session"].__dask_tokenize__()
