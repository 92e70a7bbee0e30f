"""refreshsts.CredentialServer: the container-credentials endpoint, public and in-process."""

from __future__ import annotations

import json
import pickle
import urllib.error
import urllib.request

import boto3
import pytest

import refreshsts
from fixtures.datasets import cross_account_hops
from fixtures.moto_server import PROFILE, REGION


def _get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": token} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_refuses_what_is_not_a_session():
    with pytest.raises(refreshsts.ConfigurationError, match=r"not a refreshsts\.Refreshable"):
        refreshsts.CredentialServer(object())


def test_serves_the_session_to_an_sdk_reading_the_env(
    cross_account_chain, proxied_aws_env, sts_proxy, monkeypatch
):
    chain = cross_account_chain
    session = refreshsts.RefreshableSession(
        *cross_account_hops(chain), source=PROFILE, region=REGION, cache=refreshsts.NoCache()
    )
    with refreshsts.CredentialServer(session) as server:
        env = server.env
        assert sorted(env) == [
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
        assert server.token not in repr(server)
        with pytest.raises(TypeError, match="not picklable"):
            pickle.dumps(server)
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(server.uri)
        assert refused.value.code == 403
        body = _get(server.uri, server.token)
        assert body["RoleArn"] == chain.target_role_arn
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # A plain boto3 session with no keys anywhere reads the endpoint, as other SDKs do.
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        plain = boto3.Session(region_name=REGION)
        listing = plain.client("s3").list_objects_v2(Bucket=chain.bucket)
    assert listing["KeyCount"] == 1
    hop2_key = session.get_credentials().get_frozen_credentials().access_key
    assert body["AccessKeyId"] == hop2_key
    assert sts_proxy.signers(f"GET /{chain.bucket}") == [hop2_key]
