"""polars scans on `polars_credential_provider`, across rotations, through the proxy."""

from __future__ import annotations

import math
import pickle
import time

import pytest

from fixtures.datasets import ROTATIONS, read_across_rotations, s3_signers
from refreshsts.integrations import PolarsCredentialProvider, polars_credential_provider


def test_reports_the_refresh_deadline_not_the_expiration(pipeline_session):
    provider = polars_credential_provider(pipeline_session)
    keys, expiry = provider()
    current = pipeline_session.get_credentials().credentials
    assert keys == {
        "aws_access_key_id": current.access_key_id,
        "aws_secret_access_key": current.secret_access_key,
        "aws_session_token": current.session_token,
    }
    mandatory = pipeline_session.windows.mandatory(current.lifetime)
    assert expiry == math.floor(current.expiration - mandatory)
    assert expiry < current.expiration - pipeline_session.windows.margin(current.lifetime)
    assert expiry > time.time()


def test_pickles_as_the_recipe(pipeline_session):
    provider = polars_credential_provider(pipeline_session)
    provider()
    current = pipeline_session.get_credentials().credentials
    data = pickle.dumps(provider)
    assert current.secret_access_key.encode() not in data
    assert current.session_token.encode() not in data
    copy = pickle.loads(data)
    assert isinstance(copy, PolarsCredentialProvider)
    assert copy.session.hops == pipeline_session.hops
    with pytest.raises(TypeError, match=r"not a refreshsts\.RefreshableSession"):
        polars_credential_provider(object())  # type: ignore[arg-type]


@pytest.mark.slow
def test_scan_parquet_across_rotations(pipeline_session, parquet_dataset, sts_proxy):
    pl = pytest.importorskip("polars")
    provider = polars_credential_provider(pipeline_session)
    options = {"aws_endpoint_url": sts_proxy.url, "aws_region": "us-west-2", "allow_http": "true"}

    def read():
        frame = pl.scan_parquet(
            parquet_dataset.glob, storage_options=options, credential_provider=provider
        )
        return frame.select(pl.col("value").sum()).collect().item()

    answers, reads = read_across_rotations(sts_proxy, read)
    assert answers == {parquet_dataset.total}
    assert len(s3_signers(sts_proxy)) > ROTATIONS, f"{reads} reads"
    assert sts_proxy.expired_signings() == []


def test_takes_the_async_twin_too(pipeline_session):
    pytest.importorskip("aiobotocore")
    twin = pipeline_session.storage_options()["session"]
    assert polars_credential_provider(twin).session is pipeline_session
