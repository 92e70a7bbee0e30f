"""RefreshableSession in-process, on moto's mock_aws."""

import ast
import inspect
import json
import logging
import pickle
import time

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError
from moto import mock_aws

import refreshsts
import refreshsts._profiles
from fixtures.fakes import at_once
from refreshsts import AssumeRole, MemoryCache, NoCache, RefreshableSession
from refreshsts._internal import sts_progress
from refreshsts.hops.assume_role import AssumeRole as AssumeRoleClass

ROLE = "arn:aws:iam::123456789012:role/reader"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture
def aws(monkeypatch, tmp_path):
    for name in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
    ]:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text(
        "[profile ststestprofile]\nregion = us-west-2\n[profile other]\nregion = us-west-2\n"
    )
    (tmp_path / "credentials").write_text(
        "[ststestprofile]\naws_access_key_id = AKIAUSERONE00000001\n"
        "aws_secret_access_key = user-one-secret-value\n"
        "[other]\naws_access_key_id = AKIAUSERTWO00000002\n"
        "aws_secret_access_key = user-two-secret-value\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        iam = boto3.client(
            "iam",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(TRUST))
        yield


@pytest.fixture
def calls(monkeypatch):
    made = []
    original = AssumeRoleClass.call

    def counting(self, client, *, duration):
        made.append((self.role_arn, duration))
        return original(self, client, duration=duration)

    monkeypatch.setattr(AssumeRoleClass, "call", counting)
    return made


def test_drop_in_boto3_session(aws, calls):
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="mytestsession"), source="ststestprofile", cache=NoCache()
    )
    assert isinstance(session, boto3.Session)
    assert session.region_name == "us-west-2"
    assert isinstance(session.get_credentials(), RefreshableCredentials)
    assert calls == [], "nothing may be fetched before the first request"
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn == "arn:aws:sts::123456789012:assumed-role/reader/mytestsession"
    assert len(calls) == 1


def test_200_requests_on_15_minute_credentials_make_one_call(aws, calls):
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="s1"),
        source="ststestprofile",
        duration="15m",
        cache=NoCache(),
    )
    s3 = session.client("s3")
    for _ in range(200):
        s3.list_buckets()
    assert calls == [(ROLE, 900)]


def test_ten_sessions_on_one_role_share_the_default_cache(aws, calls):
    refreshsts.set_default_cache(MemoryCache())
    try:
        sessions = [
            RefreshableSession(AssumeRole(ROLE, session_name="s1"), source="ststestprofile")
            for _ in range(10)
        ]
        keys = {s.get_credentials().get_frozen_credentials().access_key for s in sessions}
    finally:
        refreshsts.set_default_cache(None)
    assert len(keys) == 1
    assert len(calls) == 1


def test_two_principals_are_never_handed_each_others_role_credentials(aws, calls):
    cache = MemoryCache()
    one = RefreshableSession(
        AssumeRole(ROLE, session_name="s1"), source="ststestprofile", cache=cache
    )
    two = RefreshableSession(AssumeRole(ROLE, session_name="s1"), source="other", cache=cache)
    assert (
        one.get_credentials().get_frozen_credentials().access_key
        != two.get_credentials().get_frozen_credentials().access_key
    )
    assert len(calls) == 2
    for key in cache._entries:
        assert "AKIAUSER" not in key and "secret" not in key


def test_32_threads_on_a_fresh_session_make_one_call_and_share_clients(aws, calls):
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="s1"), source="ststestprofile", cache=NoCache()
    )
    clients = []

    def work():
        clients.append(session.client("s3"))
        clients[-1].list_buckets()

    assert at_once(32, work) == []
    assert len({id(c) for c in clients}) == 1
    assert len(calls) == 1


def test_clients_are_cached_per_service_region_endpoint_and_config(aws):
    session = RefreshableSession(AssumeRole(ROLE), source="ststestprofile")
    assert session.client("s3") is session.client("s3")
    assert session.client("s3") is not session.client("s3", region_name="eu-west-1")
    assert session.client("s3") is not session.client("s3", endpoint_url="http://127.0.0.1:1")
    config = Config(retries={"max_attempts": 2})
    assert session.client("s3", config=config) is session.client(
        "s3", config=Config(retries={"max_attempts": 2})
    )
    assert session.client("s3", config=config) is not session.client("s3")
    bucket = session.resource("s3").Bucket("x")
    assert bucket.name == "x"


def test_sessions_share_one_loader(aws):
    one = RefreshableSession(AssumeRole(ROLE), source="ststestprofile")
    two = RefreshableSession(AssumeRole(ROLE), source="ststestprofile")
    assert one._loader is two._loader
    assert one._loader.search_paths.count(one._loader.search_paths[-1]) == 1


def test_pickle_carries_the_recipe_not_secrets(aws, calls):
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="s1", external_id="xyz-123"),
        source="ststestprofile",
        region="us-west-2",
        duration="1h",
    )
    session.client("s3").list_buckets()
    frozen = session.get_credentials().get_frozen_credentials()
    data = pickle.dumps(session)
    for secret in [frozen.secret_key, frozen.token, frozen.access_key, "user-one-secret-value"]:
        assert secret.encode() not in data
    clone = pickle.loads(data)
    assert isinstance(clone, RefreshableSession)
    assert clone.hops == session.hops
    assert clone.region_name == "us-west-2"
    assert clone.get_credentials().credentials is None, "the clone rebuilds lazily"
    clone.client("s3").list_buckets()


def test_a_source_with_bare_keys_refuses_to_pickle_and_says_what_to_pass(aws):
    source = boto3.Session(
        aws_access_key_id="AKIAEXPLICIT000001", aws_secret_access_key="shh", region_name="us-east-1"
    )
    session = RefreshableSession(AssumeRole(ROLE), source=source)
    with pytest.raises(TypeError, match=r"source='<profile name>' or source=None") as info:
        pickle.dumps(session)
    assert "shh" not in str(info.value)


def _refreshable(access_key: str, secret: str) -> RefreshableCredentials:
    metadata = {
        "access_key": access_key,
        "secret_key": secret,
        "token": "a-session-token",
        "expiry_time": "2099-01-01T00:00:00Z",
    }
    return RefreshableCredentials.create_from_metadata(
        metadata, refresh_using=lambda: metadata, method="sts-assume-role"
    )


@pytest.mark.parametrize("profile", [None, "ststestprofile"])
def test_a_source_holding_refreshable_keys_of_its_own_refuses_to_pickle(aws, profile):
    core = botocore.session.Session(profile=profile)
    core._credentials = _refreshable("ASIAOWNFUNCTION0001", "shh-refreshable")
    session = RefreshableSession(AssumeRole(ROLE), source=boto3.Session(botocore_session=core))
    with pytest.raises(
        TypeError, match=r"refreshable credentials.*source='<profile name>'"
    ) as info:
        pickle.dumps(session)
    assert "shh" not in str(info.value)


def test_an_unused_boto3_session_on_a_profile_still_pickles_as_that_profile(aws):
    source = boto3.Session(profile_name="ststestprofile")
    session = RefreshableSession(AssumeRole(ROLE), source=source, region="us-west-2")
    assert pickle.loads(pickle.dumps(session)).source.profile == "ststestprofile"


def test_a_proxy_password_in_sts_config_never_travels_in_a_pickle(aws):
    proxied = Config(proxies={"https": "http://bob:hunter2@proxy.example:3128"})
    session = RefreshableSession(AssumeRole(ROLE), source="ststestprofile", sts_config=proxied)
    with pytest.raises(TypeError, match=r"proxy with a password \(http://proxy.example\)") as info:
        pickle.dumps(session)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in session.__dask_tokenize__()
    plain = Config(proxies={"https": "http://proxy.example:3128"})
    session = RefreshableSession(AssumeRole(ROLE), source="ststestprofile", sts_config=plain)
    assert pickle.loads(pickle.dumps(session)).hops == session.hops


def test_no_secret_in_repr_str_or_debug_logs(aws, caplog):
    caplog.set_level(logging.DEBUG, logger="refreshsts")
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="s1", external_id="very-secret-ext"),
        source="ststestprofile",
        cache=NoCache(),
    )
    session.client("s3").list_buckets()
    frozen = session.get_credentials().get_frozen_credentials()
    texts = [
        repr(session),
        str(session),
        repr(session.get_credentials()),
        str(session.hops),
        caplog.text,
    ]
    for text in texts:
        for secret in [frozen.secret_key, frozen.token, "user-one-secret-value", "very-secret-ext"]:
            assert secret not in text
    assert "refreshed hop 1 of 1" in caplog.text


def test_sts_client_honours_endpoint_env_and_config(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4599")
    session = RefreshableSession(
        AssumeRole(ROLE),
        source="ststestprofile",
        sts_config=Config(retries={"max_attempts": 7}, read_timeout=3),
    )
    sts = session._chain.links[0].sts_client
    assert sts.meta.endpoint_url == "http://127.0.0.1:4599"
    assert sts.meta.config.retries["total_max_attempts"] == 8  # botocore counts the first try
    assert sts.meta.config.retries["mode"] == "standard"
    assert sts.meta.config.read_timeout == 3
    assert sts.meta.region_name == "us-west-2"


def test_regional_sts_endpoint_by_default(aws):
    session = RefreshableSession(AssumeRole(ROLE), source="ststestprofile", region="eu-central-1")
    sts = session._chain.links[0].sts_client
    assert sts.meta.endpoint_url == "https://sts.eu-central-1.amazonaws.com"


def test_duration_max_steps_down_once_when_sts_refuses(aws, monkeypatch):
    asked = []
    original = AssumeRoleClass.call

    def refusing(self, client, *, duration):
        asked.append(duration)
        if duration > 3600:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": "The requested DurationSeconds exceeds the "
                        "MaxSessionDuration set for this role.",
                    }
                },
                "AssumeRole",
            )
        return original(self, client, duration=duration)

    monkeypatch.setattr(AssumeRoleClass, "call", refusing)
    session = RefreshableSession(
        AssumeRole(ROLE, duration="max"), source="ststestprofile", cache=NoCache()
    )
    session.get_credentials().get_frozen_credentials()
    assert asked == [43200, 3600]
    session.hop_credentials[0]._install(
        session.hop_credentials[0].credentials.__class__("a", "b", "c", 0, -1)
    )
    session.get_credentials().get_frozen_credentials()
    assert asked == [43200, 3600, 3600], "the stepped-down duration is remembered"


def test_clients_read_the_source_profiles_settings_but_sign_with_the_chain(aws, tmp_path):
    config = tmp_path / "config"
    config.write_text(
        config.read_text()
        + "[profile tuned]\nregion = eu-west-1\ns3 =\n    addressing_style = path\n"
    )
    credentials = tmp_path / "credentials"
    credentials.write_text(
        credentials.read_text()
        + "[tuned]\naws_access_key_id = AKIATUNED0000000001\naws_secret_access_key = tuned-secret\n"
    )
    session = RefreshableSession(AssumeRole(ROLE, session_name="s1"), source="tuned")
    s3 = session.client("s3")
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.config.s3["addressing_style"] == "path"
    assert session.get_credentials() is s3._request_signer._credentials


def test_the_global_sts_endpoint_is_signed_for_us_east_1(aws):
    session = RefreshableSession(
        AssumeRole(ROLE),
        source="ststestprofile",
        region="eu-west-1",
        sts_endpoint_url="https://sts.amazonaws.com",
    )
    sts = session._chain.links[0].sts_client
    assert sts.meta.endpoint_url == "https://sts.amazonaws.com"
    assert sts.meta.region_name == "us-east-1"
    assert session.region_name == "eu-west-1"


def test_profile_option_chooses_whose_settings_clients_and_sts_read(aws, tmp_path):
    config = tmp_path / "config"
    config.write_text(
        config.read_text()
        + "[profile settings]\nregion = ap-southeast-2\nmax_attempts = 9\n"
        + "s3 =\n    addressing_style = path\n"
    )
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="s1"), source="ststestprofile", profile="settings"
    )
    s3 = session.client("s3")
    assert session.region_name == "ap-southeast-2"
    assert s3.meta.config.s3["addressing_style"] == "path"
    assert s3.meta.config.retries["total_max_attempts"] == 9
    assert session._chain.links[0].sts_client.meta.region_name == "ap-southeast-2"
    assert pickle.loads(pickle.dumps(session)).region_name == "ap-southeast-2"
    with pytest.raises(refreshsts.ConfigurationError, match="profile='nope': no such profile"):
        RefreshableSession(AssumeRole(ROLE), source="ststestprofile", profile="nope")


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/creds"}, "container role"),
        (
            {"AWS_WEB_IDENTITY_TOKEN_FILE": "/tmp/t", "AWS_ROLE_ARN": ROLE},
            "web identity",
        ),
    ],
)
def test_a_default_chain_that_is_a_role_session_caps_the_first_hop(aws, monkeypatch, env, reason):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(refreshsts.ConfigurationError, match=reason):
        RefreshableSession(AssumeRole(ROLE, duration="2h"))
    with pytest.raises(refreshsts.ConfigurationError, match=reason):
        RefreshableSession(AssumeRole(ROLE), duration="12h")
    session = RefreshableSession(AssumeRole(ROLE), duration="max")
    assert session._chain.links[0]._duration == 3600


def _signing_key(session):
    signer = session._chain.links[0].sts_client._request_signer._credentials
    return signer.get_frozen_credentials().access_key


@pytest.mark.parametrize("spelling", ["profile", "profile_name"])
def test_profile_alone_is_the_source_not_only_the_settings(aws, monkeypatch, spelling):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    session = RefreshableSession(AssumeRole(ROLE), **{spelling: "ststestprofile"})
    assert session.profile_name == "ststestprofile"
    assert session.source.profile == "ststestprofile"
    assert _signing_key(session) == "AKIAUSERONE00000001"
    assert _signing_key(pickle.loads(pickle.dumps(session))) == "AKIAUSERONE00000001"
    with pytest.raises(refreshsts.ConfigurationError, match=f"{spelling}='nope': no such profile"):
        RefreshableSession(AssumeRole(ROLE), **{spelling: "nope"})


def test_source_and_profile_together_keep_source_as_the_signer(aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    session = RefreshableSession(AssumeRole(ROLE), source="other", profile="ststestprofile")
    assert _signing_key(session) == "AKIAUSERTWO00000002"
    default_chain = RefreshableSession(
        AssumeRole(ROLE), source=boto3.Session(), profile="ststestprofile"
    )
    assert _signing_key(default_chain) == "AKIAENVIRONMENT00001"
    rebuilt = pickle.loads(pickle.dumps(default_chain))
    assert rebuilt.source.profile is None, "a pickle must not turn profile= into the signer"
    assert _signing_key(rebuilt) == "AKIAENVIRONMENT00001"


def test_boto3_spellings_are_aliases_and_both_at_once_are_refused(aws):
    session = RefreshableSession(AssumeRole(ROLE), source="other", region_name="eu-west-3")
    assert session.region_name == "eu-west-3"
    with pytest.raises(refreshsts.ConfigurationError, match="region='eu-west-1' and region_name"):
        RefreshableSession(AssumeRole(ROLE), region="eu-west-1", region_name="eu-west-1")
    with pytest.raises(refreshsts.ConfigurationError, match="profile='other' and profile_name="):
        RefreshableSession(AssumeRole(ROLE), profile="other", profile_name="other")
    with pytest.raises(refreshsts.ConfigurationError, match="region_name='moon-1'"):
        RefreshableSession(AssumeRole(ROLE), source="other", region_name="moon-1")


def test_three_sts_attempts_and_shorter_timeouts_while_a_caller_waits_with_nothing(
    aws, monkeypatch
):
    timeouts = []
    original = AssumeRoleClass.call

    def recording(self, client, *, duration):
        timeouts.append((client.meta.config.connect_timeout, client.meta.config.read_timeout))
        return original(self, client, duration=duration)

    monkeypatch.setattr(AssumeRoleClass, "call", recording)
    session = RefreshableSession(AssumeRole(ROLE), source="ststestprofile", cache=NoCache())
    session.get_credentials().get_frozen_credentials()
    session.get_credentials().refresh()
    assert timeouts == [(3, 5), (5, 10)], "first fetch fails fast; a refresh has time"
    for client in (session._chain.links[0].sts_client, session._chain.links[0].waiting_sts_client):
        assert client.meta.config.retries["total_max_attempts"] == 3


def test_profiles_module_does_not_import_the_session_module():
    tree = ast.parse(inspect.getsource(refreshsts._profiles))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert "session" not in imported and "refreshsts.session" not in imported


def test_a_slow_sts_request_is_a_notice_naming_the_url_and_attempt(aws, monkeypatch, caplog):
    monkeypatch.setattr(sts_progress, "SLOW_AFTER", 0.05)
    caplog.set_level(logging.INFO, logger="refreshsts")
    session = RefreshableSession(AssumeRole(ROLE), source="ststestprofile", cache=NoCache())
    client = session._chain.links[0].waiting_sts_client
    client.meta.events.register("before-send.sts.AssumeRole", lambda **_: time.sleep(0.5))
    session.get_credentials().get_frozen_credentials()
    [notice] = [record for record in caplog.records if getattr(record, "notice", False)]
    assert notice.getMessage() == (
        "waiting for STS at https://sts.us-west-2.amazonaws.com/ (attempt 1/3)"
    )
