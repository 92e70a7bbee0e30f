"""`refreshsts serve --imds`: IMDSv2 as botocore, the AWS CLI and other SDKs read it."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import signal
import socket
import time
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.session import Session as BotocoreSession
from botocore.utils import IMDSRegionProvider, InstanceMetadataFetcher
from cli_helpers import leaks, role_args, serve_process, stalled_connections

from fixtures.moto_server import free_port
from refreshsts import AssumeRole, NoCache, RefreshableSession
from refreshsts.cli import _imds as imds_module
from refreshsts.cli import main
from refreshsts.cli._credentials import Snapshot
from refreshsts.cli._imds import ImdsServer, SessionTokens, _ImdsHandler, role_name_of
from refreshsts.cli._server import _HTTPServer

TOKEN = "/latest/api/token"
CREDENTIALS = "/latest/meta-data/iam/security-credentials/"
EXTENDED = "/latest/meta-data/iam/security-credentials-extended/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"


def request(server, method, path, headers=None, *, host=None):
    """(status, body text, response headers) of one request; Host is the server's unless given."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host or urlsplit(server.endpoint_url).netloc)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        connection.close()


def token_of(server, ttl="21600"):
    status, token, _ = request(server, "PUT", TOKEN, {TTL: ttl})
    assert status == 200
    return token


def read(server, path, token=None, **headers):
    if token is not None:
        headers["X-aws-ec2-metadata-token"] = token
    status, body, _ = request(server, "GET", path, headers)
    return status, body


def botocore_fetcher(server):
    """botocore's own IMDS credential fetcher, pointed at `server`, IMDSv1 off."""
    return InstanceMetadataFetcher(
        timeout=2,
        num_attempts=1,
        env={},
        config={
            "ec2_metadata_service_endpoint": server.endpoint_url,
            "ec2_metadata_v1_disabled": True,
        },
    )


def seed_session(world):
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name="imds"),
        source="ststestprofile",
        region="us-west-2",
        cache=NoCache(),
    )


@pytest.fixture
def imds(world, proxied_aws_env):
    with ImdsServer(seed_session(world)) as running:
        yield running


def test_the_token_dance_gets_the_role_and_its_credentials(imds, world, sts_proxy):
    status, token, headers = request(imds, "PUT", TOKEN, {TTL: "21600"})
    assert status == 200
    assert headers[TTL] == "21600"
    assert read(imds, CREDENTIALS, token) == (200, world.role_name)
    status, body = read(imds, CREDENTIALS + world.role_name, token)
    assert status == 200
    served = json.loads(body)
    assert set(served) == {
        "Code",
        "LastUpdated",
        "Type",
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
    }
    assert (served["Code"], served["Type"]) == ("Success", "AWS-HMAC")
    expiration = dt.datetime.fromisoformat(served["Expiration"].replace("Z", "+00:00"))
    assert expiration > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=50)
    extended = json.loads(read(imds, EXTENDED + world.role_name, token)[1])
    assert extended.pop("AccountId") == world.account_id
    assert {**extended, "LastUpdated": ""} == {**served, "LastUpdated": ""}
    assert read(imds, EXTENDED, token) == (200, world.role_name)
    assert sts_proxy.calls("AssumeRole") == 1


def test_botocore_reads_the_credentials_with_its_own_fetcher(imds, world):
    fetched = botocore_fetcher(imds).retrieve_iam_role_credentials()
    assert fetched["role_name"] == world.role_name
    assert fetched["access_key"].startswith("ASIA")


def test_botocore_keeps_the_real_expiry_of_keys_near_their_end(world, proxied_aws_env, sts_proxy):
    """botocore stretches an IMDS-format Expiration under ~25 min away; STS keys die on time."""
    sts_proxy.expiration_seconds = 300
    with ImdsServer(seed_session(world)) as server:
        served = json.loads(read(server, CREDENTIALS + world.role_name, token_of(server))[1])
        fetched = botocore_fetcher(server).retrieve_iam_role_credentials()
    assert fetched["expiry_time"] == served["Expiration"]
    expiry = dt.datetime.fromisoformat(served["Expiration"].replace("Z", "+00:00"))
    assert expiry < dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=301)


def test_keys_past_their_expiry_are_never_served(imds, world, monkeypatch):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    dead = Snapshot("ASIADEAD", "dead-secret", "dead-token", past, world.role_arn)
    monkeypatch.setattr(imds_module, "snapshot", lambda session: dead)
    status, body = read(imds, CREDENTIALS + world.role_name, token_of(imds))
    assert status == 200
    assert json.loads(body)["Code"] == "CredentialsExpired"
    assert leaks(body, "ASIADEAD", "dead-secret", "dead-token") == []


def test_imdsv1_and_wrong_or_expired_tokens_get_401_and_no_keys(imds, world, sts_proxy):
    token = token_of(imds)
    short = token_of(imds, ttl="1")
    other = SessionTokens().issue(60)  # a real token of another server (another key)
    forged = base64.urlsafe_b64encode(base64.urlsafe_b64decode(token)[:-1] + b"x").decode()
    time.sleep(1.1)
    path = CREDENTIALS + world.role_name
    for wrong in (None, "", "x", token[:-2], token + "A", other, forged, short):
        status, body = read(imds, path, wrong)
        assert status == 401, wrong
        assert "AccessKeyId" not in body
    assert read(imds, CREDENTIALS)[0] == 401
    assert sts_proxy.calls("AssumeRole") == 0
    assert read(imds, path, token)[0] == 200


@pytest.mark.parametrize("ttl", [None, "", "0", "-1", "21601", "1e3", "abc", "3600.5"])
def test_a_token_ttl_missing_or_outside_1_to_21600_is_a_400(imds, ttl):
    headers = {} if ttl is None else {TTL: ttl}
    status, body, _ = request(imds, "PUT", TOKEN, headers)
    assert status == 400
    assert "1 to 21600" in body


def test_token_ttls_of_1_and_21600_are_taken(imds):
    for ttl in ("1", "21600"):
        assert token_of(imds, ttl)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Forwarded-For", "10.0.0.1"),
        ("x-forwarded-for", ""),
        ("Forwarded", "for=10.0.0.1"),
        ("Via", "1.1 tinyproxy (tinyproxy/1.11.1)"),
        ("X-Forwarded-Host", "imds.example"),
        ("Origin", "http://evil.example"),
    ],
)
def test_forwarded_or_browser_requests_are_refused(imds, world, header, value):
    status, body, _ = request(imds, "PUT", TOKEN, {TTL: "60", header: value})
    assert status == 403
    assert header.lower() in body.lower()
    token = token_of(imds)
    assert read(imds, CREDENTIALS + world.role_name, token, **{header: value})[0] == 403


def test_a_host_header_other_than_loopback_is_refused(imds, world):
    """A page whose DNS name was rebound to 127.0.0.1 sends its own name as Host."""
    for host in (f"evil.example:{imds.port}", "evil.example", "169.254.169.254", "[::1"):
        assert request(imds, "PUT", TOKEN, {TTL: "60"}, host=host)[0] == 403, host
    for host in (f"localhost:{imds.port}", "127.0.0.1", f"[::1]:{imds.port}", "127.1.2.3"):
        assert request(imds, "PUT", TOKEN, {TTL: "60"}, host=host)[0] == 200, host


def test_other_paths_and_methods(imds, world):
    token = token_of(imds)
    assert read(imds, CREDENTIALS + "someone-else", token)[0] == 404
    assert read(imds, "/latest/user-data", token)[0] == 404
    assert read(imds, TOKEN, token)[0] == 405
    assert request(imds, "PUT", CREDENTIALS, {TTL: "60"})[0] == 405
    status, _, headers = request(imds, "DELETE", TOKEN)
    assert status == 405
    assert headers["Allow"] == "GET, PUT"


def test_the_region_answers_as_sdks_read_it(imds, world, monkeypatch):
    token = token_of(imds)
    assert read(imds, "/latest/meta-data/placement/region", token) == (200, "us-west-2")
    assert read(imds, "/latest/meta-data/placement/availability-zone/", token) == (
        200,
        "us-west-2a",
    )
    status, document = read(imds, "/latest/dynamic/instance-identity/document", token)
    assert status == 200
    assert json.loads(document)["region"] == "us-west-2"
    assert json.loads(document)["accountId"] == world.account_id
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint_url)
    assert IMDSRegionProvider(BotocoreSession()).provide() == "us-west-2"


@pytest.mark.parametrize(
    ("host", "level", "option"),
    [
        ("127.0.0.1", socket.IPPROTO_IP, socket.IP_TTL),
        ("::1", socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS),
    ],
)
def test_replies_leave_with_a_hop_limit_of_1(
    world, proxied_aws_env, monkeypatch, host, level, option
):
    """As IMDS: a reply that would have to cross a router (a forwarded port) is dropped."""
    limits = []
    setup = _ImdsHandler.setup

    def recording(handler):
        setup(handler)
        limits.append(handler.connection.getsockopt(level, option))

    monkeypatch.setattr(_ImdsHandler, "setup", recording)
    try:
        server = ImdsServer(seed_session(world), host=host)
    except OSError:
        pytest.skip(f"no {host} here")
    with server:
        assert server.endpoint_url.startswith(f"http://{'[::1]' if ':' in host else host}:")
        assert token_of(server)
    assert limits == [1]


def test_stalled_connections_do_not_keep_an_sdk_from_its_token(imds):
    """The endpoint's connection limits hold for IMDS, which takes no authorization token."""
    with stalled_connections((imds.host, imds.port), _HTTPServer.max_connections):
        started = time.monotonic()
        assert token_of(imds)
        assert time.monotonic() - started < 2.0


def test_a_refresh_failure_is_a_code_other_than_success_without_secrets(
    world, proxied_aws_env, sts_proxy
):
    sts_proxy.fail_all(("error", "AccessDenied", "not today", 403))
    with ImdsServer(seed_session(world)) as server:
        status, body = read(server, CREDENTIALS + world.role_name, token_of(server))
        assert botocore_fetcher(server).retrieve_iam_role_credentials() == {}
    assert status == 200, "as IMDS: a failure is a Code, so SDKs do not retry it"
    failure = json.loads(body)
    assert failure["Code"] == "RefreshError"
    assert "AccessDenied" in failure["Message"]
    assert "AccessKeyId" not in failure
    assert leaks(body, world.secret_access_key) == []


def test_the_role_name_is_the_last_part_of_the_role_arn(world, proxied_aws_env):
    pathed = RefreshableSession(
        AssumeRole("arn:aws:iam::123456789012:role/teams/data/reader"), cache=NoCache()
    )
    assert role_name_of(pathed) == "reader"
    with ImdsServer(pathed, role_name="other-name", region="eu-west-1") as server:
        token = token_of(server)
        assert read(server, CREDENTIALS, token) == (200, "other-name")
        assert read(server, "/latest/meta-data/placement/region", token) == (200, "eu-west-1")


# The command --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--imds", "--role", "x=arn:aws:iam::123456789012:role/x"], "--role is for the"),
        (["--imds", "--token-file", "/tmp/never"], "--token-file is for the"),
        (["--imds-role-name", "app"], "--imds-role-name is for --imds"),
        (["--imds", "--imds-role-name", "no/slash"], "not an IAM role name"),
        (["--imds", "--imds-role-name", "x" * 65], "1 to 64"),
        (["--imds", "--host", "0.0.0.0"], "loopback"),
    ],
)
def test_serve_imds_refuses_options_that_cannot_work(
    world, proxied_aws_env, sts_proxy, cache_home, capsys, extra, message
):
    assert main(["serve", *role_args(world), *extra]) == 2
    assert message in capsys.readouterr().err
    assert sts_proxy.calls() == 0


@contextlib.contextmanager
def serve_imds(world):
    """`refreshsts serve --imds` for the seed role, stopped by SIGTERM; yields its endpoint."""
    port = free_port()
    with serve_process("--imds", *role_args(world), "--port", str(port)) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines == [
            f"export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:{port}/\n",
            "export AWS_EC2_METADATA_DISABLED=false\n",
            f"# role {world.role_name}, region us-west-2: IMDSv2 only, readable by any local "
            "process\n",
        ]
        yield f"http://127.0.0.1:{port}/"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def imds_env(monkeypatch, endpoint):
    """An environment whose only credentials are behind `endpoint`."""
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_EC2_METADATA_V1_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def assert_read_only(session, world):
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=world.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [world.object_key]
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=world.bucket, Key="nope", Body=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.slow
def test_boto3_and_the_aws_cli_use_serve_imds_and_stay_read_only(
    world, proxied_aws_env, sts_proxy, monkeypatch, aws, tmp_path
):
    with serve_imds(world) as endpoint:
        imds_env(monkeypatch, endpoint)
        plain = boto3.Session(region_name="us-west-2")
        assert_read_only(plain, world)
        assert plain.get_credentials().method == "iam-role"
        arn = plain.client("sts").get_caller_identity()["Arn"]
        assert arn.endswith(f":assumed-role/{world.role_name}/{arn.rsplit('/', 1)[-1]}")
        listed = aws("s3", "ls", f"s3://{world.bucket}", "--region", "us-west-2")
        assert listed.returncode == 0, listed.stderr
        assert world.object_key in listed.stdout
        local = tmp_path / "upload.txt"
        local.write_text("no")
        copied = aws("s3", "cp", str(local), f"s3://{world.bucket}/nope", "--region", "us-west-2")
        assert copied.returncode != 0
        assert "AccessDenied" in copied.stderr
    signers = set(sts_proxy.signers("AssumeRole"))
    assert signers == {world.access_key_id}, "only serve assumed the role, with the user's keys"


@pytest.mark.slow
def test_short_lived_credentials_refresh_through_the_endpoint_never_signing_expired(
    world, proxied_aws_env, sts_proxy, monkeypatch
):
    sts_proxy.expiration_seconds = 5
    with serve_imds(world) as endpoint:
        imds_env(monkeypatch, endpoint)
        s3 = boto3.Session(region_name="us-west-2").client("s3")
        seen = set()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            s3.list_objects_v2(Bucket=world.bucket)
            seen.add(s3._request_signer._credentials.get_frozen_credentials().access_key)
            time.sleep(0.2)
    assert len(seen) >= 2, "botocore got new keys from the endpoint"
    assert sts_proxy.calls("AssumeRole") >= 3
    assert sts_proxy.expired_signings() == []
