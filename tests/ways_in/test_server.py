"""Every way in against the moto server, behind the recording, fault-injecting STS proxy.

Web identity and SAML run with moto's auth off: moto answers those unsigned calls with a
500 when IAM auth is on (see testing-with-moto.md), and so do GetSessionToken keys.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
import time_machine

from refreshsts import (
    AssumeRole,
    AssumeRoleWithSAML,
    AssumeRoleWithWebIdentity,
    ConfigurationError,
    ContainerCredentials,
    GetFederationToken,
    GetSessionToken,
    InstanceMetadata,
    MemoryCache,
    NoCache,
    RefreshableSession,
    RefreshError,
)

from .makers import INSTANCE_ID, make_jwt, make_saml

IDP = "arn:aws:iam::123456789012:saml-provider/corp-adfs"
MFA = "arn:aws:iam::123456789012:mfa/myteststsuser"
LIFETIME = 900
MAX_SESSION = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
CHAINING = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role "
    "chaining."
)


@contextmanager
def clock() -> Iterator[time_machine.Traveller]:
    """Real time that a test can jump forward; the proxy's rewritten expirations follow it."""
    with time_machine.travel(time.time(), tick=True) as traveller:
        yield traveller


def keys(session: RefreshableSession) -> str:
    return session.get_credentials().get_frozen_credentials().access_key


# Profiles ---------------------------------------------------------------------------------------


def test_profile_chain_user_to_role_to_cross_account_role(
    world, cross_account_chain, proxied_aws_env, sts_proxy
):
    chain = cross_account_chain
    proxied_aws_env.add_config(
        f"[profile hub]\nrole_arn = {chain.hub_role_arn}\nsource_profile = ststestprofile\n"
        "role_session_name = hub-session\nduration_seconds = 3600\n"
        f"[profile data-reader]\nrole_arn = {chain.target_role_arn}\nsource_profile = hub\n"
        "role_session_name = reader-session\nexternal_id = xyz-123\nregion = us-west-2\n"
    )
    session = RefreshableSession.from_profile("data-reader", cache=NoCache())
    body = session.client("s3").get_object(Bucket=chain.bucket, Key=chain.object_key)["Body"]
    assert body.read() == chain.object_body
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(f":assumed-role/{chain.target_role_name}/reader-session")
    first, second = sts_proxy.records("AssumeRole")
    assert first.access_key_id == world.access_key_id
    assert first.params["RoleArn"] == chain.hub_role_arn
    assert first.params["RoleSessionName"] == "hub-session"
    assert first.params["DurationSeconds"] == "3600"
    assert second.access_key_id == session.hop_credentials[0].get_frozen_credentials().access_key
    assert second.params["ExternalId"] == "xyz-123"
    assert second.params["RoleSessionName"] == "reader-session"


def test_a_profile_loop_is_refused_naming_the_loop(aws_env):
    aws_env.add_config(
        "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = b\n"
        "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = a\n"
    )
    with pytest.raises(ConfigurationError, match="profile loop: a -> b -> a"):
        RefreshableSession.from_profile("a")


# Web identity -----------------------------------------------------------------------------------


def test_web_identity_sends_the_token_in_the_file_at_each_refresh(
    moto_server, world, proxied_aws_env, sts_proxy, tmp_path
):
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt("system:serviceaccount:apps:web"))
    sts_proxy.expiration_seconds = LIFETIME
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token_file=token_file, session_name="pod"),
        cache=NoCache(),
        region="us-west-2",
    )
    written = []
    with moto_server.admin(), clock() as traveller:
        seen = [keys(session)]
        for _ in range(3):
            written.append(make_jwt("system:serviceaccount:apps:web"))
            token_file.write_text(written[-1])
            traveller.shift(LIFETIME)
            seen.append(keys(session))
        arn = session.client("sts").get_caller_identity()["Arn"]
    records = sts_proxy.records("AssumeRoleWithWebIdentity")
    assert len(records) == 4
    assert [r.params["WebIdentityToken"] for r in records[1:]] == written
    assert {r.access_key_id for r in records} == {None}, "unsigned: no credentials at all"
    assert len(set(seen)) == 4
    assert arn.endswith(f":assumed-role/{world.role_name}/pod")


def test_web_identity_duration_max_steps_down_on_max_session_duration(
    moto_server, world, proxied_aws_env, sts_proxy
):
    sts_proxy.inject(
        ("error", "ValidationError", MAX_SESSION, 400), action="AssumeRoleWithWebIdentity"
    )
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token=lambda: make_jwt("ci"), duration="max"),
        cache=NoCache(),
    )
    with moto_server.admin():
        keys(session)
    asked = [r.params["DurationSeconds"] for r in sts_proxy.records("AssumeRoleWithWebIdentity")]
    assert asked == ["43200", "3600"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider"),
        ("IDPRejectedClaim", "Incorrect token audience"),
        ("ExpiredTokenException", "Token expired: current date/time 1700000000"),
        ("ValidationError", MAX_SESSION),
    ],
)
def test_web_identity_errors_are_clear_refresh_errors(
    moto_server, world, proxied_aws_env, sts_proxy, code, message
):
    sts_proxy.fail_all(("error", code, message, 400), action="AssumeRoleWithWebIdentity")
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token=make_jwt("ci"), duration="2h"),
        cache=NoCache(),
    )
    with pytest.raises(RefreshError) as info:
        keys(session)
    text = str(info.value)
    assert info.value.hop == 1
    assert "hop 1 of 1 (AssumeRoleWithWebIdentity" in text
    assert code in text
    assert message in text


@pytest.mark.slow
def test_idp_communication_errors_are_retried_then_reported(
    moto_server, world, proxied_aws_env, sts_proxy
):
    message = "Couldn't connect to the identity provider"
    sts_proxy.fail_all(
        ("error", "IDPCommunicationError", message, 400), action="AssumeRoleWithWebIdentity"
    )
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token=make_jwt("ci")), cache=NoCache()
    )
    with pytest.raises(RefreshError, match=f"IDPCommunicationError.*{message}"):
        keys(session)
    assert sts_proxy.calls("AssumeRoleWithWebIdentity") >= 1


def test_a_forged_web_identity_token_with_the_victims_claims_goes_to_sts_and_is_refused(
    moto_server, world, proxied_aws_env, sts_proxy
):
    victim = make_jwt("repo:org/app:ref:refs/heads/main")
    header, claims, _ = victim.split(".")
    forged = f"{header}.{claims}.Zm9yZ2VkLXNpZ25hdHVyZQ"
    sts_proxy.sign_tokens(victim)
    cache = MemoryCache()

    def session(token: str) -> RefreshableSession:
        hop = AssumeRoleWithWebIdentity(world.role_arn, token=token, session_name="ci")
        return RefreshableSession(hop, cache=cache, region="us-west-2")

    with moto_server.admin():
        stolen = keys(session(victim))
        assert keys(session(victim)) == stolen, "the same token finds its entry"
        assert sts_proxy.calls("AssumeRoleWithWebIdentity") == 1
        attacker = session(forged)
        with pytest.raises(RefreshError, match="InvalidIdentityToken"):
            keys(attacker)
    assert sts_proxy.calls("AssumeRoleWithWebIdentity") == 2, "the forged token went to STS"
    assert attacker.get_credentials().credentials is None


# SAML -------------------------------------------------------------------------------------------


def test_saml_with_a_callable(moto_server, world, proxied_aws_env, sts_proxy):
    sts_proxy.expiration_seconds = LIFETIME
    asked = []

    def assertion() -> str:
        asked.append(make_saml(world.role_arn, IDP, name_id="alice@corp", session_name="alice"))
        return asked[-1]

    session = RefreshableSession(
        AssumeRoleWithSAML(world.role_arn, IDP, assertion=assertion, duration="1h"),
        cache=NoCache(),
        region="us-west-2",
    )
    with moto_server.admin(), clock() as traveller:
        first = keys(session)
        traveller.shift(LIFETIME)
        second = keys(session)
        arn = session.client("sts").get_caller_identity()["Arn"]
    records = sts_proxy.records("AssumeRoleWithSAML")
    assert len(records) == 2
    assert len(asked) == 2, "asked once per STS call"
    assert [r.params["SAMLAssertion"] for r in records] == asked
    assert records[0].params["PrincipalArn"] == IDP
    assert records[0].access_key_id is None
    assert first != second
    assert arn.endswith(f":assumed-role/{world.role_name}/alice")


@pytest.mark.parametrize(
    ("code", "message", "remembered"),
    [
        ("InvalidIdentityToken", "Incorrect token audience", True),
        ("ExpiredTokenException", "Token expired: current date/time 1700000000", True),
        ("IDPRejectedClaim", "Incorrect token audience", True),
        (
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider",
            False,
        ),
        ("IDPCommunicationError", "The identity provider could not be reached", False),
    ],
)
def test_web_identity_refusals_are_remembered_transient_errors_retried(
    world, proxied_aws_env, sts_proxy, code, message, remembered
):
    sts_proxy.fail_all(("error", code, message, 400), action="AssumeRoleWithWebIdentity")
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token=make_jwt("ci")), cache=NoCache()
    )
    for _ in range(6):
        with pytest.raises(RefreshError, match=code):
            keys(session)
        time.sleep(0.5)
    calls = sts_proxy.calls("AssumeRoleWithWebIdentity")
    if remembered:
        assert calls == 1, f"{code} is asked again only after the negative cache"
    else:
        assert calls >= 2, f"{code} is transient: retried on the backoff"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("InvalidIdentityToken", "Token signature is invalid"),
        ("ExpiredTokenException", "Token expired: current date/time 1700000000"),
    ],
)
def test_a_rotated_token_file_goes_to_sts_at_once_despite_a_refusal(
    moto_server, world, proxied_aws_env, sts_proxy, tmp_path, code, message
):
    old, new = (
        make_jwt("system:serviceaccount:apps:web"),
        make_jwt("system:serviceaccount:apps:web"),
    )
    sts_proxy.fail_all(
        ("error", code, message, 400),
        action="AssumeRoleWithWebIdentity",
        params={"WebIdentityToken": old},
    )
    token_file = tmp_path / "token"
    token_file.write_text(old)
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token_file=token_file, session_name="pod"),
        cache=NoCache(),
        region="us-west-2",
    )
    with moto_server.admin():
        for _ in range(3):
            with pytest.raises(RefreshError, match=code):
                keys(session)
        assert sts_proxy.calls("AssumeRoleWithWebIdentity") == 1
        token_file.write_text(new)
        assert keys(session).startswith("ASIA")
    records = sts_proxy.records("AssumeRoleWithWebIdentity")
    assert [r.params["WebIdentityToken"] for r in records] == [old, new]


def test_a_refused_token_callable_is_not_asked_on_each_read(
    moto_server, world, proxied_aws_env, sts_proxy
):
    sts_proxy.sign_tokens("none of these")
    asked = []

    def token() -> str:
        asked.append(make_jwt("ci"))
        return asked[-1]

    session = RefreshableSession(
        AssumeRoleWithWebIdentity(world.role_arn, token=token), cache=NoCache()
    )
    for _ in range(5):
        with pytest.raises(RefreshError, match="InvalidIdentityToken"):
            keys(session)
    assert sts_proxy.calls("AssumeRoleWithWebIdentity") == 1
    assert len(asked) == 1, "a callable minting new tokens would make each read an STS call"


def test_saml_errors_are_clear_refresh_errors(moto_server, world, proxied_aws_env, sts_proxy):
    sts_proxy.fail_all(
        ("error", "InvalidIdentityToken", "Specified provider doesn't exist", 400),
        action="AssumeRoleWithSAML",
    )
    session = RefreshableSession(
        AssumeRoleWithSAML(world.role_arn, IDP, assertion=lambda: "PHNhbWxwOlJlc3BvbnNlLz4="),
        cache=NoCache(),
    )
    with pytest.raises(RefreshError, match=r"AssumeRoleWithSAML.*Specified provider doesn.t exist"):
        keys(session)


def test_a_forged_saml_assertion_naming_the_victim_goes_to_sts_and_is_refused(
    moto_server, world, proxied_aws_env, sts_proxy
):
    def assertion(signature: str) -> str:
        return make_saml(
            world.role_arn, IDP, name_id="alice@corp", session_name="alice", signature=signature
        )

    victim, forged = assertion("dmFsaWQ="), assertion("Zm9yZ2Vk")
    sts_proxy.sign_tokens(victim)
    cache = MemoryCache()

    def session(text: str) -> RefreshableSession:
        hop = AssumeRoleWithSAML(world.role_arn, IDP, assertion=text, duration="1h")
        return RefreshableSession(hop, cache=cache, region="us-west-2")

    with moto_server.admin():
        stolen = keys(session(victim))
        assert keys(session(victim)) == stolen, "the same assertion finds its entry"
        attacker = session(forged)
        with pytest.raises(RefreshError, match="InvalidIdentityToken"):
            keys(attacker)
    assert sts_proxy.calls("AssumeRoleWithSAML") == 2, "the forged assertion went to STS"
    assert attacker.get_credentials().credentials is None


# MFA session tokens ------------------------------------------------------------------------------


def test_get_session_token_with_mfa_refreshes_three_times_one_code_per_call(
    moto_server, world, proxied_aws_env, sts_proxy
):
    sts_proxy.expiration_seconds = LIFETIME
    device = iter(["111111", "111111", "222222", "333333", "444444", "555555"])
    prompts = []

    def mfa_token() -> str:
        prompts.append(next(device))
        return prompts[-1]

    cache = MemoryCache()
    hop = GetSessionToken(duration="15m", mfa_serial=MFA, mfa_token=mfa_token)
    with moto_server.admin(), clock() as traveller:
        session = RefreshableSession(hop, source="ststestprofile", cache=cache)
        keys(session)
        for _ in range(3):
            traveller.shift(LIFETIME)
            keys(session)
        again = RefreshableSession(hop, source="ststestprofile", cache=cache)
        keys(again)
    sent = [r.params["TokenCode"] for r in sts_proxy.records("GetSessionToken")]
    assert sent == ["111111", "222222", "333333", "444444"], "never the same code twice"
    assert prompts == ["111111", "111111", "222222", "333333", "444444"]
    assert all(r.params["SerialNumber"] == MFA for r in sts_proxy.records("GetSessionToken"))
    assert all(r.params["DurationSeconds"] == "900" for r in sts_proxy.records("GetSessionToken"))


def test_a_bad_mfa_code_is_a_clear_refresh_error(world, proxied_aws_env, sts_proxy):
    sts_proxy.inject(
        (
            "error",
            "AccessDenied",
            "MultiFactorAuthentication failed with invalid MFA one time pass code.",
            403,
        ),
        action="AssumeRole",
    )
    session = RefreshableSession(
        AssumeRole(world.role_arn, mfa_serial=MFA, mfa_token=lambda: "987654"),
        source="ststestprofile",
        cache=NoCache(),
    )
    with pytest.raises(RefreshError) as info:
        keys(session)
    assert "MultiFactorAuthentication failed" in str(info.value)
    assert "AccessDenied" in str(info.value)
    assert sts_proxy.records("AssumeRole")[0].params["TokenCode"] == "987654"


def test_federation_token_for_a_partner_app(moto_server, world, proxied_aws_env, sts_proxy):
    with moto_server.admin():
        session = RefreshableSession(
            GetFederationToken(
                "partner-app",
                policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
                duration="36h",
            ),
            source="ststestprofile",
            cache=NoCache(),
        )
        keys(session)
    (record,) = sts_proxy.records("GetFederationToken")
    assert record.params["Name"] == "partner-app"
    assert record.params["DurationSeconds"] == "129600"
    assert record.params["PolicyArns.member.1.arn"].endswith("AmazonS3ReadOnlyAccess")
    assert record.access_key_id == world.access_key_id


# EC2 instance metadata and container credentials ---------------------------------------------


def test_an_imdsv2_instance_role_is_the_source_of_a_cross_account_chain(
    cross_account_chain, proxied_aws_env, sts_proxy, moto_imds, instance_role
):
    chain = cross_account_chain
    session = RefreshableSession(
        AssumeRole(chain.target_role_arn, session_name="from-ec2"),
        source=InstanceMetadata(),
        duration="max",
        region="us-west-2",
        cache=NoCache(),
    )
    assert session.source.role_session == "an EC2 instance role"
    body = session.client("s3").get_object(Bucket=chain.bucket, Key=chain.object_key)["Body"]
    assert body.read() == chain.object_body
    assume = sts_proxy.records("AssumeRole")
    assert [r.access_key_id for r in assume] == [instance_role["AccessKeyId"]]
    assert assume[0].params["DurationSeconds"] == "3600", "chained: max is 1h"
    steps = [(r.method, r.path.rsplit("/", 1)[-1]) for r in moto_imds.requests]
    assert steps[:3] == [("PUT", "token"), ("GET", ""), ("GET", instance_role["RoleName"])]
    assert all("x-aws-ec2-metadata-token" in r.headers for r in moto_imds.requests[1:])
    identity = sts_proxy.records("GetCallerIdentity")
    assert [r.access_key_id for r in identity] == [instance_role["AccessKeyId"]]
    assert INSTANCE_ID


def test_the_chaining_validation_error_is_clear_when_sts_says_it(
    cross_account_chain, proxied_aws_env, sts_proxy, moto_imds
):
    sts_proxy.inject(("error", "ValidationError", CHAINING, 400))
    session = RefreshableSession(
        AssumeRole(cross_account_chain.target_role_arn, duration="1h"),
        source=InstanceMetadata(),
        cache=NoCache(),
    )
    with pytest.raises(RefreshError, match="1 hour session limit for roles assumed by role"):
        keys(session)


def test_container_credentials_with_an_authorization_token(
    cross_account_chain, proxied_aws_env, sts_proxy, moto_container, instance_role
):
    chain = cross_account_chain
    session = RefreshableSession(
        AssumeRole(chain.target_role_arn, session_name="from-task"),
        source=ContainerCredentials(),
        region="us-west-2",
        cache=NoCache(),
    )
    body = session.client("s3").get_object(Bucket=chain.bucket, Key=chain.object_key)["Body"]
    assert body.read() == chain.object_body
    assert sts_proxy.signers("AssumeRole") == [instance_role["AccessKeyId"]]
    (request,) = moto_container.requests
    assert request.headers["authorization"] == moto_container.authorization


def test_a_profile_with_credential_source_ec2_goes_through_imds(
    cross_account_chain, proxied_aws_env, sts_proxy, moto_imds, instance_role
):
    proxied_aws_env.add_config(
        f"[profile reader]\nrole_arn = {cross_account_chain.target_role_arn}\n"
        "credential_source = Ec2InstanceMetadata\nregion = us-west-2\n"
    )
    session = RefreshableSession.from_profile("reader", cache=NoCache())
    client = boto3.Session.client(session, "s3")
    client.get_object(Bucket=cross_account_chain.bucket, Key=cross_account_chain.object_key)
    assert sts_proxy.signers("AssumeRole") == [instance_role["AccessKeyId"]]
