"""A pyarrow dataset on `pyarrow_filesystem`, across rotations, through the proxy."""

from __future__ import annotations

import pytest

from fixtures.datasets import ROTATIONS, read_across_rotations, s3_signers
from refreshsts import ConfigurationError
from refreshsts.integrations import pyarrow_filesystem

ds = pytest.importorskip("pyarrow.dataset")


def test_keys_that_would_win_over_the_session_are_refused(pipeline_session, monkeypatch):
    with pytest.raises(ConfigurationError, match="access_key"):
        pyarrow_filesystem(pipeline_session, access_key="AKIA", secret_key="x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA")
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID is set"):
        pyarrow_filesystem(pipeline_session)


@pytest.mark.slow
def test_dataset_reads_across_rotations(pipeline_session, parquet_dataset, sts_proxy):
    fs = pyarrow_filesystem(pipeline_session, endpoint_override=sts_proxy.url)

    def read():
        table = ds.dataset(
            f"{parquet_dataset.bucket}/{parquet_dataset.prefix}", filesystem=fs, format="parquet"
        ).to_table()
        return sum(table.column("value").to_pylist())

    answers, reads = read_across_rotations(sts_proxy, read)
    assert answers == {parquet_dataset.total}
    assert len(s3_signers(sts_proxy)) > ROTATIONS, f"{reads} reads"
    assert sts_proxy.expired_signings() == []
