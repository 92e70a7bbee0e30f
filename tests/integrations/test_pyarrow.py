"""A pyarrow dataset on `pyarrow_filesystem`, across rotations, through the proxy."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from fixtures.datasets import ROTATIONS, read_across_rotations, s3_signers
from fixtures.fakes import fork_child, held_by_another_thread, wait_for_child
from refreshsts import ConfigurationError
from refreshsts.integrations import pyarrow as integration
from refreshsts.integrations import pyarrow_filesystem

ds = pytest.importorskip("pyarrow.dataset")
pafs = pytest.importorskip("pyarrow.fs")

DEFAULT_KEY = "AKIADEFAULTPROFILE01"


def _add_default_profile(files) -> None:
    with files.credentials_file.open("a", encoding="utf-8") as handle:
        handle.write(f"\n[default]\naws_access_key_id = {DEFAULT_KEY}\naws_secret_access_key = x\n")


def _sum(fs, dataset) -> int:
    table = ds.dataset(f"{dataset.bucket}/{dataset.prefix}", filesystem=fs, format="parquet")
    return sum(table.to_table().column("value").to_pylist())


def test_keys_passed_as_options_are_refused(pipeline_session):
    with pytest.raises(ConfigurationError, match="access_key"):
        pyarrow_filesystem(pipeline_session, access_key="AKIA", secret_key="x")


def test_a_clean_chain_gets_the_sdk_filesystem(pipeline_session, parquet_dataset, sts_proxy):
    fs = pyarrow_filesystem(pipeline_session, endpoint_override=sts_proxy.url)
    assert isinstance(fs, pafs.S3FileSystem)
    assert _sum(fs, parquet_dataset) == parquet_dataset.total


def test_a_default_profile_with_keys_switches_to_s3fs_signed_by_the_session(
    pipeline_session, proxied_aws_env, parquet_dataset, sts_proxy, caplog
):
    """The C++ SDK would sign as [default] (reviewer: AKIADEFAULTPROFILE01); s3fs cannot."""
    _add_default_profile(proxied_aws_env)
    with caplog.at_level(logging.INFO, logger="refreshsts"):
        fs = pyarrow_filesystem(pipeline_session, endpoint_override=sts_proxy.url)
    assert isinstance(fs, pafs.PyFileSystem)
    assert "profile [default]" in caplog.text
    assert DEFAULT_KEY not in caplog.text
    assert _sum(fs, parquet_dataset) == parquet_dataset.total
    signers = s3_signers(sts_proxy)
    assert DEFAULT_KEY not in signers
    assert signers == {pipeline_session.get_credentials().get_frozen_credentials().access_key}


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_ACCESS_KEY_ID", "AKIAENV"), ("AWS_PROFILE", "ststestprofile")],
)
def test_environment_that_would_win_switches_to_s3fs(
    pipeline_session, sts_proxy, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    fs = pyarrow_filesystem(pipeline_session, endpoint_override=sts_proxy.url, scheme="http")
    assert isinstance(fs, pafs.PyFileSystem)
    s3 = fs.handler.fs
    assert s3.client_kwargs == {"region_name": "us-west-2", "endpoint_url": sts_proxy.url}


def test_options_map_to_s3fs(pipeline_session, proxied_aws_env):
    _add_default_profile(proxied_aws_env)
    fs = pyarrow_filesystem(
        pipeline_session,
        endpoint_override="127.0.0.1:9",
        scheme="http",
        region="eu-west-1",
        connect_timeout=3,
        request_timeout=7,
    )
    s3 = fs.handler.fs
    assert s3.client_kwargs == {"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9"}
    assert s3.config_kwargs == {"connect_timeout": 3, "read_timeout": 7}
    with pytest.raises(ConfigurationError, match="cannot take allow_bucket_creation"):
        pyarrow_filesystem(pipeline_session, allow_bucket_creation=True)


def test_without_s3fs_it_refuses_naming_the_problem_and_the_fixes(
    pipeline_session, proxied_aws_env, monkeypatch
):
    _add_default_profile(proxied_aws_env)
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(ConfigurationError) as caught:
        pyarrow_filesystem(pipeline_session)
    message = str(caught.value)
    assert f"profile [default] of {proxied_aws_env.credentials_file}" in message
    assert "AWS_SHARED_CREDENTIALS_FILE" in message
    assert "FSSpecHandler" in message


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
