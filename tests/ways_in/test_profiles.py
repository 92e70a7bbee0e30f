"""from_profile: config-file role chains read into hops, and every broken config refused."""

from __future__ import annotations

import pickle

import pytest

from refreshsts import (
    AssumeRole,
    AssumeRoleWithWebIdentity,
    ConfigurationError,
    ContainerCredentials,
    InstanceMetadata,
    NoCache,
    RefreshableSession,
)
from refreshsts._profiles import read_profile_chain

HUB = "arn:aws:iam::111111111111:role/hub"
READER = "arn:aws:iam::222222222222:role/data-reader"
MFA = "arn:aws:iam::123456789012:mfa/alice"
KEYS = "aws_access_key_id = AKIAEXAMPLEKEY000001\naws_secret_access_key = secret-value\n"


@pytest.fixture
def config(isolated_aws):
    def write(text: str) -> None:
        isolated_aws.write_text(text)

    return write


def test_a_chain_of_source_profiles_becomes_hops_root_side_first(config):
    config(
        "[profile user]\n" + KEYS + "region = eu-west-1\n"
        f"[profile hub]\nrole_arn = {HUB}\nsource_profile = user\n"
        "role_session_name = hub-session\nduration_seconds = 7200\nmfa_serial = " + MFA + "\n"
        f"[profile reader]\nrole_arn = {READER}\nsource_profile = hub\n"
        "external_id = xyz-123\nregion = us-west-2\n"
    )
    codes = lambda: "123456"  # noqa: E731
    chain = read_profile_chain("reader", mfa_token=codes)
    assert chain.profiles == ("reader", "hub", "user")
    assert chain.source == "user"
    assert chain.region == "us-west-2"
    hub, reader = chain.hops
    assert hub == AssumeRole(HUB, session_name="hub-session", duration=7200, mfa_serial=MFA)
    assert hub.mfa_token is codes
    assert reader == AssumeRole(READER, external_id="xyz-123")
    session = RefreshableSession.from_profile("reader", cache=NoCache(), mfa_token=codes)
    assert session.hops == chain.hops
    assert session.region_name == "us-west-2"
    assert session.source.profile == "user"
    rebuilt = pickle.loads(pickle.dumps(RefreshableSession.from_profile("reader")))
    assert rebuilt.hops[1] == reader


def test_overrides_are_session_options(config):
    config("[profile user]\n" + KEYS + f"[profile r]\nrole_arn = {HUB}\nsource_profile = user\n")
    session = RefreshableSession.from_profile("r", region="ap-south-1", duration="30m")
    assert session.region_name == "ap-south-1"
    assert session._chain.links[0]._duration == 1800
    with pytest.raises(ConfigurationError, match="unknown option colour: pass RefreshableSession"):
        RefreshableSession.from_profile("r", colour="blue")
    with pytest.raises(
        ConfigurationError, match=r"no profile in the chain \(r -> user\) sets mfa_serial"
    ):
        RefreshableSession.from_profile("r", mfa_token=lambda: "123456")


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = b\n"
            f"[profile b]\nrole_arn = {READER}\nsource_profile = a\n",
            "a",
            "profile loop: a -> b -> a",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = b\n"
            f"[profile b]\nrole_arn = {READER}\nsource_profile = c\n"
            f"[profile c]\nrole_arn = {READER}\nsource_profile = b\n",
            "a",
            "profile loop: a -> b -> c -> b",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = ghost\n",
            "a",
            "profile 'a': source_profile = 'ghost' names no profile in",
        ),
        ("[profile a]\nregion = us-west-2\n", "nobody", r"from_profile\('nobody'\): no such"),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = b\ncredential_source = Environment\n"
            "[profile b]\n" + KEYS,
            "a",
            "profile 'a' sets both source_profile = 'b' and credential_source = 'Environment'",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\ncredential_source = Laptop\n",
            "a",
            "credential_source = 'Laptop' is not one of Environment, Ec2InstanceMetadata, Ecs",
        ),
        (f"[profile a]\nrole_arn = {HUB}\n", "a", "sets role_arn but none of source_profile"),
        ("[profile a]\n" + KEYS, "a", "profile 'a' has no role_arn"),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = b\n[profile b]\nregion = x\n",
            "a",
            "profile 'b' .the source_profile of 'a'. has no credentials",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = a\n",
            "a",
            "names itself as source_profile but holds no aws_access_key_id",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\nweb_identity_token_file = /t\nsource_profile = b\n",
            "a",
            "sets web_identity_token_file and source_profile",
        ),
        (
            "[profile u]\n" + KEYS + f"[profile a]\nrole_arn = {HUB}\nsource_profile = u\n"
            "duration_seconds = soon\n",
            "a",
            "duration_seconds = 'soon' is not a whole number",
        ),
        (
            "[profile u]\n" + KEYS + f"[profile a]\nrole_arn = {HUB}\nsource_profile = u\n"
            "duration_seconds = 50000\n",
            "a",
            r"profile 'a' in .*: AssumeRole.*duration=50000 s .* allowed 900-43200",
        ),
        (
            "[profile u]\n" + KEYS + f"[profile b]\nrole_arn = {HUB}\nsource_profile = u\n"
            f"[profile a]\nrole_arn = {READER}\nsource_profile = b\nduration_seconds = 7200\n",
            "a",
            "profile 'a': duration_seconds = 7200 .2h. is longer than 1h, but its "
            "source_profile 'b' is itself a role session",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\ncredential_source = Ec2InstanceMetadata\n"
            "duration_seconds = 7200\n",
            "a",
            "its credential source is an EC2 instance role, so assuming .* is role chaining",
        ),
        (
            f"[profile a]\nrole_arn = {HUB}\ncredential_source = EcsContainer\n",
            "a",
            "credential_source = EcsContainer, but ContainerCredentials: no endpoint",
        ),
        (
            "[profile u]\n" + KEYS + f"[profile a]\nrole_arn = {HUB}\nsource_profile = u\n"
            "mfa_serial = nope\n",
            "a",
            "profile 'a' in .*mfa_serial='nope' is invalid",
        ),
        (
            "[profile u]\n" + KEYS + f"[profile a]\nrole_arn = {HUB}\nsource_profile = u\n"
            "sts_regional_endpoints = sideways\n",
            "a",
            "sts_regional_endpoints = 'sideways' is not 'regional' or 'legacy'",
        ),
    ],
)
def test_broken_configs_are_refused_naming_the_profiles(config, text, name, message):
    config(text)
    with pytest.raises(ConfigurationError, match=message):
        RefreshableSession.from_profile(name)


def test_credential_sources_become_sources(config, monkeypatch):
    config(
        f"[profile ec2]\nrole_arn = {HUB}\ncredential_source = Ec2InstanceMetadata\n"
        f"[profile ecs]\nrole_arn = {HUB}\ncredential_source = EcsContainer\n"
        f"[profile env]\nrole_arn = {HUB}\ncredential_source = Environment\n"
        "duration_seconds = 7200\n"
    )
    ec2 = RefreshableSession.from_profile("ec2")
    assert isinstance(ec2.source, InstanceMetadata)
    assert ec2._chain.links[0].chained
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc")
    assert isinstance(RefreshableSession.from_profile("ecs").source, ContainerCredentials)
    env = RefreshableSession.from_profile("env")
    assert "environment variables" in env.source.label
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVKEY0000000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert env.source.credentials().access_key == "AKIAENVKEY0000000001"
    assert pickle.loads(pickle.dumps(env)).source.label == env.source.label


def test_a_web_identity_profile_is_an_unsigned_first_hop(config, tmp_path):
    token = tmp_path / "token"
    config(
        f"[profile ci]\nrole_arn = {HUB}\nweb_identity_token_file = {token}\n"
        "role_session_name = gha\nduration_seconds = 7200\n"
        f"[profile deploy]\nrole_arn = {READER}\nsource_profile = ci\n"
    )
    chain = read_profile_chain("deploy")
    assert chain.source is None
    assert chain.hops[0] == AssumeRoleWithWebIdentity(
        HUB, token_file=str(token), session_name="gha", duration=7200
    )
    assert chain.hops[1] == AssumeRole(READER)


def test_a_profile_that_is_its_own_source_uses_its_own_keys(config):
    config(f"[profile me]\nrole_arn = {HUB}\nsource_profile = me\nmfa_serial = {MFA}\n" + KEYS)
    session = RefreshableSession.from_profile("me")
    assert session.source.credentials().access_key == "AKIAEXAMPLEKEY000001"
    assert session.hops == (AssumeRole(HUB, mfa_serial=MFA),)
    assert pickle.loads(pickle.dumps(session)).source.profile == "me"


def test_legacy_sts_endpoints_go_to_the_global_endpoint(config):
    config(
        "[profile u]\n" + KEYS + f"[profile a]\nrole_arn = {HUB}\nsource_profile = u\n"
        "region = us-west-2\nsts_regional_endpoints = legacy\n"
        f"[profile b]\nrole_arn = {HUB}\nsource_profile = u\n"
        "region = ap-east-1\nsts_regional_endpoints = legacy\n"
    )
    assert read_profile_chain("a").sts_endpoint_url == "https://sts.amazonaws.com"
    assert read_profile_chain("b").sts_endpoint_url is None, "not a legacy global region"


def test_legacy_global_endpoint_is_signed_for_us_east_1(config):
    config(
        "[profile u]\n" + KEYS + f"[profile a]\nrole_arn = {HUB}\nsource_profile = u\n"
        "region = eu-west-1\nsts_regional_endpoints = legacy\n"
    )
    sts = RefreshableSession.from_profile("a")._chain.links[0].sts_client
    assert sts.meta.endpoint_url == "https://sts.amazonaws.com"
    assert sts.meta.region_name == "us-east-1", "sts.amazonaws.com rejects other scopes"


def test_clients_use_the_named_profiles_settings_not_the_source_profiles(config):
    config(
        "[profile u]\nregion = eu-west-1\n"
        + KEYS
        + f"[profile r]\nrole_arn = {HUB}\nsource_profile = u\nregion = ap-south-1\n"
        "max_attempts = 9\ns3 =\n    addressing_style = path\n"
    )
    session = RefreshableSession.from_profile("r")
    s3 = session.client("s3")
    assert session.region_name == "ap-south-1"
    assert s3.meta.config.retries["total_max_attempts"] == 9
    assert s3.meta.config.s3["addressing_style"] == "path"
    assert session._chain.links[0].sts_client.meta.region_name == "ap-south-1"
    assert session.source.profile == "u", "the keys still come from the source profile"
