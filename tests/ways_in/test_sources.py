"""Instance metadata and container credentials as sources, on loopback emulators (no moto)."""

from __future__ import annotations

import pickle

import boto3
import pytest

from fixtures.imds import ROLE_PATH, TOKEN_PATH, ContainerEndpoint
from refreshsts import (
    AssumeRole,
    ConfigurationError,
    ContainerCredentials,
    GetFederationToken,
    GetSessionToken,
    InstanceMetadata,
    RefreshableSession,
    RefreshError,
)

from .makers import fake_credentials

ROLE = "arn:aws:iam::222222222222:role/data-reader"


def test_instance_metadata_does_the_imdsv2_dance(isolated_aws, fake_imds):
    source = InstanceMetadata()
    frozen = source.credentials().get_frozen_credentials()
    assert frozen.access_key == "ASIAFAKE000000000001"
    assert frozen.token == "fake-session-token"
    steps = [(r.method, r.path) for r in fake_imds.requests]
    assert steps == [
        ("PUT", TOKEN_PATH),
        ("GET", ROLE_PATH),
        ("GET", ROLE_PATH + "ec2-app"),
    ]
    token = fake_imds.requests[1].headers["x-aws-ec2-metadata-token"]
    assert fake_imds.requests[2].headers["x-aws-ec2-metadata-token"] == token
    assert "x-aws-ec2-metadata-token-ttl-seconds" in fake_imds.requests[0].headers
    assert source.credentials() is source.credentials(), "loaded once, then botocore refreshes"


def test_instance_metadata_explicit_endpoint_and_pickling(isolated_aws, fake_imds, monkeypatch):
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    source = InstanceMetadata(endpoint=fake_imds.url, timeout=2, attempts=1)
    assert source.credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
    copy = pickle.loads(pickle.dumps(source))
    assert (copy.endpoint, copy.timeout, copy.attempts) == (fake_imds.url, 2.0, 1)
    assert source.recipe() == ("source", source)


def test_instance_metadata_disabled_or_unreachable_is_a_clear_refresh_error(isolated_aws):
    with pytest.raises(RefreshError, match="AWS_EC2_METADATA_DISABLED=true turns"):
        InstanceMetadata(endpoint="http://127.0.0.1:9").credentials()


def test_instance_metadata_without_a_role_says_what_to_check(isolated_aws, fake_imds, monkeypatch):
    monkeypatch.setattr(fake_imds, "role_name", "")
    with pytest.raises(RefreshError, match="is an IAM role attached to the instance"):
        InstanceMetadata(attempts=1).credentials()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "169.254.169.254"}, "is not an http"),
        ({"timeout": 0}, "timeout=0 must be"),
        ({"attempts": 0}, "attempts=0 must be 1-10"),
        ({"endpoint": "http://127.0.0.1:\u0668\u0660"}, "is not an http"),
        ({"endpoint": 80}, "is not an http"),
        ({"timeout": "1"}, r"timeout='1' must be a number of seconds in \(0, 60\]"),
        ({"attempts": True}, "attempts=True must be 1-10"),
    ],
)
def test_instance_metadata_settings_are_checked(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        InstanceMetadata(**kwargs)


def test_an_instance_role_source_makes_the_first_assume_role_chained(isolated_aws, caplog):
    with pytest.raises(ConfigurationError) as info:
        RefreshableSession(AssumeRole(ROLE, duration="2h"), source=InstanceMetadata())
    text = str(info.value)
    assert "hop 1 of 1" in text
    assert "a role session (an EC2 instance role)" in text
    assert "allowed 900-3600 s (15m-1h)" in text
    assert "role chaining" in text
    with pytest.raises(ConfigurationError, match=r"hop 1 of 2 .* a role session .* \(15m-1h\)"):
        RefreshableSession(
            AssumeRole(ROLE, session_name="first"),
            AssumeRole(ROLE),
            source=InstanceMetadata(),
            duration="12h",
        )
    session = RefreshableSession(
        AssumeRole(ROLE, session_name="first"),
        AssumeRole(ROLE),
        source=InstanceMetadata(),
        duration="1h",
    )
    assert [link._duration for link in session._chain.links] == [3600, 3600]
    assert session._chain.links[0].chained
    maxed = RefreshableSession(AssumeRole(ROLE, duration="max"), source=InstanceMetadata())
    assert maxed._chain.links[0]._duration == 3600
    with pytest.raises(ConfigurationError, match=r"a role session .* only for IAM user"):
        RefreshableSession(GetSessionToken(), source=InstanceMetadata())
    with pytest.raises(ConfigurationError, match=r"a role session .* only for IAM user"):
        RefreshableSession(GetFederationToken("app"), source=InstanceMetadata())


def test_a_session_duration_over_the_chaining_cap_is_refused_naming_the_source(isolated_aws):
    with pytest.raises(ConfigurationError) as info:
        RefreshableSession(AssumeRole(ROLE), source=InstanceMetadata(), duration="36h")
    assert str(info.value).startswith(
        "hop 1 of 1 (AssumeRole arn:aws:iam::222222222222:role/data-reader as "
    )
    assert "with EC2 instance metadata, a role session (an EC2 instance role)" in str(info.value)
    assert "duration=129600 s (36h) is out of range: allowed 900-3600 s (15m-1h)" in str(info.value)


def test_container_credentials_send_the_token_from_the_file_each_fetch(isolated_aws, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first-token")
    with ContainerEndpoint(fake_credentials, authorization="first-token") as endpoint:
        source = ContainerCredentials(
            full_uri=endpoint.full_uri, authorization_token_file=str(token_file)
        )
        assert source.credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
        assert endpoint.requests[0].headers["authorization"] == "first-token"
        assert pickle.loads(pickle.dumps(source)).full_uri == endpoint.full_uri


def test_container_credentials_from_the_environment(isolated_aws, monkeypatch):
    with ContainerEndpoint(fake_credentials, authorization="env-token") as endpoint:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.full_uri)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token")
        assert ContainerCredentials().credentials().get_frozen_credentials().token
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong")
        with pytest.raises(RefreshError, match="could not read credentials from http://127"):
            ContainerCredentials(attempts=1).credentials()


def test_container_credentials_make_the_first_assume_role_chained(isolated_aws):
    source = ContainerCredentials(full_uri="http://127.0.0.1:1/creds")
    with pytest.raises(ConfigurationError, match=r"ECS task role or EKS Pod Identity"):
        RefreshableSession(AssumeRole(ROLE, duration="3h"), source=source)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI and"),
        ({"full_uri": "http://10.0.0.1/creds"}, "http is allowed only for a loopback"),
        ({"full_uri": "ftp://localhost/x"}, "is not an http"),
        ({"relative_uri": "v2/creds"}, "must start with '/'"),
        ({"full_uri": "https://a/x", "relative_uri": "/x"}, "not both"),
        (
            {"full_uri": "http://localhost/x", "authorization_token": "a\nb"},
            "holds a line break",
        ),
        (
            {
                "full_uri": "http://localhost/x",
                "authorization_token": "a",
                "authorization_token_file": "/t",
            },
            "not both",
        ),
        ({"full_uri": 5}, r"full_uri must be text \(an http\(s\) URL\), not int"),
        ({"full_uri": "http://[::1/creds"}, "is not an http"),
        ({"relative_uri": b"/v2"}, "relative_uri must be text .* not bytes"),
        (
            {"full_uri": "http://localhost/x", "authorization_token": 5},
            "authorization_token must be text",
        ),
        (
            {"full_uri": "http://localhost/x", "authorization_token_file": 5},
            r"authorization_token_file must be a path \(text or a pathlib.Path\), not int",
        ),
        ({"full_uri": "http://localhost/x", "timeout": 0}, r"timeout=0 must be .* \(0, 60\]"),
        ({"full_uri": "http://localhost/x", "attempts": 11}, "attempts=11 must be 1-10"),
    ],
)
def test_container_settings_are_checked(isolated_aws, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        ContainerCredentials(**kwargs)


def test_a_container_token_file_may_be_a_path(isolated_aws, tmp_path):
    source = ContainerCredentials(
        full_uri="https://example.com/x", authorization_token_file=tmp_path
    )
    assert source.authorization_token_file == str(tmp_path)
    assert pickle.loads(pickle.dumps(source)).authorization_token_file == str(tmp_path)


def test_a_container_token_given_as_text_is_not_pickled(isolated_aws):
    source = ContainerCredentials(full_uri="https://example.com/x", authorization_token="secret")
    with pytest.raises(TypeError, match="authorization token"):
        pickle.dumps(source)
    session = RefreshableSession(AssumeRole(ROLE), source=source)
    with pytest.raises(TypeError, match="authorization token"):
        pickle.dumps(session)


def test_a_profile_that_assumes_a_role_is_a_role_session_source(isolated_aws):
    isolated_aws.write_text(
        "[profile base]\nregion = us-west-2\n"
        "[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\n"
        "source_profile = base\n"
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Dev\n"
    )
    with pytest.raises(ConfigurationError, match="profile 'admin' assumes"):
        RefreshableSession(AssumeRole(ROLE, duration="2h"), source="admin")
    with pytest.raises(ConfigurationError, match="IAM Identity Center"):
        RefreshableSession(AssumeRole(ROLE, duration="2h"), source="sso")
    RefreshableSession(AssumeRole(ROLE, duration="2h"), source="base")


def test_the_error_for_a_bad_source_names_the_new_sources():
    with pytest.raises(ConfigurationError, match=r"InstanceMetadata\(\), .*ContainerCredentials"):
        RefreshableSession(AssumeRole(ROLE), source=42)  # type: ignore[arg-type]


def test_a_boto3_session_on_session_token_keys_makes_the_first_assume_role_chained(
    isolated_aws, monkeypatch
):
    explicit = boto3.Session(
        aws_access_key_id="ASIAFAKE000000000002",
        aws_secret_access_key="fake-secret",
        aws_session_token="fake-session-token",
        region_name="us-east-1",
    )
    with pytest.raises(ConfigurationError, match=r"session token.*allowed 900-3600 s"):
        RefreshableSession(AssumeRole(ROLE, duration="12h"), source=explicit)
    maxed = RefreshableSession(AssumeRole(ROLE, duration="max"), source=explicit)
    assert maxed._chain.links[0]._duration == 3600
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFAKE000000000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "fake-session-token")
    with pytest.raises(ConfigurationError, match="a session token in AWS_SESSION_TOKEN"):
        RefreshableSession(AssumeRole(ROLE, duration="12h"), source=boto3.Session())


def test_session_token_keys_in_the_environment_make_the_first_assume_role_chained(
    isolated_aws, monkeypatch
):
    # what `aws-vault exec` exports: GetSessionToken credentials
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFAKE000000000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "fake-session-token")
    with pytest.raises(ConfigurationError) as info:
        RefreshableSession(AssumeRole(ROLE, duration="12h"))
    text = str(info.value)
    assert "the default credential chain, whose keys are temporary" in text
    assert "a session token in AWS_SESSION_TOKEN" in text
    assert "allowed 900-3600 s (15m-1h)" in text
    maxed = RefreshableSession(AssumeRole(ROLE, duration="max"))
    assert maxed._chain.links[0]._duration == 3600
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    long_term = RefreshableSession(AssumeRole(ROLE, duration="max"))
    assert long_term._chain.links[0]._duration == 43200


def test_a_profile_holding_a_session_token_makes_the_first_assume_role_chained(isolated_aws):
    credentials = isolated_aws.parent / "credentials"
    credentials.write_text(
        "[vault]\naws_access_key_id = ASIAFAKE000000000001\n"
        "aws_secret_access_key = fake-secret\naws_session_token = fake-session-token\n"
        "[user]\naws_access_key_id = AKIAFAKE000000000001\naws_secret_access_key = fake\n"
    )
    with pytest.raises(ConfigurationError, match="profile 'vault' has an aws_session_token"):
        RefreshableSession(AssumeRole(ROLE, duration="2h"), source="vault")
    with pytest.raises(ConfigurationError, match="role chaining"):
        RefreshableSession(AssumeRole(ROLE), source="vault", duration="12h")
    assert (
        RefreshableSession(AssumeRole(ROLE), source="vault", duration="max")
        ._chain.links[0]
        ._duration
        == 3600
    )
    with pytest.raises(ConfigurationError, match="only for IAM user"):
        RefreshableSession(GetSessionToken(), source="vault")
    user = RefreshableSession(AssumeRole(ROLE), source="user", duration="12h")
    assert user._chain.links[0]._duration == 43200
