"""A pyarrow dataset on `pyarrow_filesystem`, across rotations, through the proxy."""

from __future__ import annotations

import os

import pytest

from fixtures.datasets import ROTATIONS, read_across_rotations, s3_signers
from fixtures.fakes import fork_child, held_by_another_thread, wait_for_child
from refreshsts import ConfigurationError
from refreshsts.integrations import pyarrow as integration
from refreshsts.integrations import pyarrow_filesystem

ds = pytest.importorskip("pyarrow.dataset")


def test_keys_that_would_win_over_the_session_are_refused(pipeline_session, monkeypatch):
    with pytest.raises(ConfigurationError, match="access_key"):
        pyarrow_filesystem(pipeline_session, access_key="AKIA", secret_key="x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA")
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID is set"):
        pyarrow_filesystem(pipeline_session)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_free_lock_and_none_of_the_parents_endpoints(monkeypatch):
    monkeypatch.setitem(integration._servers, "parent's", object())

    def child() -> None:
        assert integration._lock.acquire(timeout=2), "the lock a parent thread held"
        assert integration._servers == {}

    with held_by_another_thread(integration._lock):
        pid = fork_child(child)
    assert wait_for_child(pid, 5, "the child blocked on the parent's lock") == 0


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
