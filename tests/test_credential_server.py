"""refreshsts.CredentialServer: the container-credentials endpoint, public and in-process."""

from __future__ import annotations

import json
import os
import pickle
import socket
import urllib.error
import urllib.request

import boto3
import pytest

import refreshsts
from fixtures.datasets import cross_account_hops
from fixtures.fakes import fork_child, held_by_another_thread, wait_for_child
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_leaving_the_block_in_a_forked_child_returns_and_the_parent_serves_on(
    cross_account_chain, proxied_aws_env, sts_proxy
):
    session = refreshsts.RefreshableSession(
        *cross_account_hops(cross_account_chain),
        source=PROFILE,
        region=REGION,
        cache=refreshsts.NoCache(),
    )
    with refreshsts.CredentialServer(session) as server:
        address = server.uri.removeprefix("http://").rstrip("/").split(":")
        with socket.create_connection((address[0], int(address[1])), timeout=5) as arriving:
            arriving.sendall(b"GET / HTTP/1.1\r\n")
            with held_by_another_thread(server._server._httpd._lock):
                pid = fork_child(server.stop)  # as leaving `with` in a forked worker does
            assert wait_for_child(pid, 5, "stop() in the forked child blocked") == 0
            arriving.sendall(f"Authorization: {server.token}\r\n\r\n".encode())
            assert arriving.recv(12) == b"HTTP/1.1 200", "the child cut the parent's connection"
        assert _get(server.uri, server.token)["AccessKeyId"]
