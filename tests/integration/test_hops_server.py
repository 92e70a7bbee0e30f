"""Hops, durations, sources and fork safety against the moto server."""

from __future__ import annotations

import os
import time

import boto3
import pytest

from fixtures.fakes import wait_for_child
from refreshsts import (
    AssumeRole,
    ConfigurationError,
    GetSessionToken,
    MemoryCache,
    NoCache,
    RefreshableSession,
    RefreshError,
)

PROFILE = "ststestprofile"
MAX_SESSION = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
CHAINING = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role "
    "chaining."
)


def expires_in(session_or_creds) -> float:
    creds = session_or_creds
    if isinstance(session_or_creds, RefreshableSession):
        creds = session_or_creds.get_credentials()
    creds.get_frozen_credentials()
    return creds.credentials.seconds_left()


def test_duration_max_steps_down_once_on_max_session_duration(world, proxied_aws_env, sts_proxy):
    sts_proxy.inject(("error", "ValidationError", MAX_SESSION, 400))
    session = RefreshableSession(
        AssumeRole(world.role_arn, session_name="maxed"),
        source=PROFILE,
        duration="max",
        cache=NoCache(),
    )
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 2
    assert 3500 < expires_in(session) <= 3600


def test_duration_max_takes_12h_when_the_role_allows_it(world, proxied_aws_env, sts_proxy):
    session = RefreshableSession(
        AssumeRole(world.role_arn, session_name="maxed"),
        source=PROFILE,
        duration="max",
        cache=NoCache(),
    )
    assert 43100 < expires_in(session) <= 43200
    assert sts_proxy.calls("AssumeRole") == 1


def test_chained_max_asks_for_one_hour_and_steps_down_on_the_chaining_error(
    world, cross_account_chain, proxied_aws_env, sts_proxy
):
    chain = cross_account_chain
    sts_proxy.inject(("error", "ValidationError", CHAINING, 400))
    session = RefreshableSession(
        AssumeRole(chain.hub_role_arn, session_name="hop1", duration="max"),
        AssumeRole(chain.target_role_arn, session_name="hop2", duration="max"),
        source=PROFILE,
        cache=NoCache(),
    )
    assert 3500 < expires_in(session) <= 3600
    assert 3500 < expires_in(session.hop_credentials[0]) <= 3600
    assert sts_proxy.calls("AssumeRole") == 3


def test_other_validation_errors_are_not_stepped_down(world, proxied_aws_env, sts_proxy):
    sts_proxy.inject(("error", "ValidationError", "1 validation error detected", 400))
    session = RefreshableSession(
        AssumeRole(world.role_arn, session_name="maxed"),
        source=PROFILE,
        duration="max",
        cache=NoCache(),
    )
    with pytest.raises(RefreshError, match="1 validation error detected"):
        session.get_credentials().get_frozen_credentials()
    assert sts_proxy.calls("AssumeRole") == 1


def test_get_session_token_lasts_36h_and_its_assume_role_is_chained_at_1h(
    moto_server, world, proxied_aws_env, sts_proxy
):
    # moto hands GetSessionToken its fixed example keys, unknown to its IAM: auth goes off.
    with moto_server.admin():
        session = RefreshableSession(
            GetSessionToken(duration="36h"),
            AssumeRole(world.role_arn, session_name="after-gst", duration="max"),
            source=PROFILE,
            cache=NoCache(),
        )
        arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(f"assumed-role/{world.role_name}/after-gst")
    assert 129500 < expires_in(session.hop_credentials[0]) <= 129600
    assert 3500 < expires_in(session) <= 3600
    assert [r.params.get("DurationSeconds") for r in sts_proxy.records("AssumeRole")] == ["3600"]
    gst_key = session.hop_credentials[0].get_frozen_credentials().access_key
    gst = session.hop_credentials[0].get_frozen_credentials()
    assert gst.account_id == world.account_id, "GetSessionToken keys: the signer's account"
    assert session.get_credentials().get_frozen_credentials().account_id == world.account_id
    assert sts_proxy.signers("GetSessionToken") == [world.access_key_id]
    assert sts_proxy.signers("AssumeRole") == [gst_key]


def test_over_1h_after_get_session_token_is_refused_before_any_call(
    world, proxied_aws_env, sts_proxy
):
    with pytest.raises(ConfigurationError, match=r"hop 2 of 2 .* after GetSessionToken"):
        RefreshableSession(
            GetSessionToken(),
            AssumeRole(world.role_arn, session_name="after-gst", duration="12h"),
            source=PROFILE,
        )
    assert sts_proxy.requests == []


def test_mfa_sent_on_the_assume_role_itself_gets_a_12h_session(world, proxied_aws_env, sts_proxy):
    session = RefreshableSession(
        AssumeRole(
            world.role_arn,
            session_name="mfa-role",
            duration="12h",
            mfa_serial="arn:aws:iam::123456789012:mfa/alice",
            mfa_token=lambda: "123456",
        ),
        source=PROFILE,
        cache=NoCache(),
    )
    assert 43100 < expires_in(session) <= 43200
    (record,) = sts_proxy.records("AssumeRole")
    assert record.access_key_id == world.access_key_id
    assert record.params["DurationSeconds"] == "43200"
    assert record.params["SerialNumber"].endswith(":mfa/alice")
    assert record.params["TokenCode"] == "123456"
    assert sts_proxy.calls("GetSessionToken") == 0


def test_session_token_keys_still_serve_when_their_account_cannot_be_asked(
    moto_server, world, proxied_aws_env, sts_proxy, caplog
):
    sts_proxy.fail_all(("error", "AccessDenied", "not today", 403), action="GetCallerIdentity")
    with moto_server.admin():
        session = RefreshableSession(GetSessionToken(), source=PROFILE, cache=NoCache())
        frozen = session.get_credentials().get_frozen_credentials()
    assert frozen.access_key and frozen.account_id is None
    assert "account ID unknown: ClientError" in caplog.text


def test_a_session_of_the_same_role_never_gets_another_sessions_next_hop(
    moto_server, world, cross_account_chain, proxied_aws_env, sts_proxy
):
    chain = cross_account_chain
    user = boto3.client(
        "sts", endpoint_url=sts_proxy.url, region_name="us-west-2", **world.user_credentials
    )
    lines, root_keys = [], {}
    for name in ("alice", "bob"):
        creds = user.assume_role(RoleArn=chain.hub_role_arn, RoleSessionName=name)["Credentials"]
        root_keys[name] = creds["AccessKeyId"]
        lines.append(
            f"[{name}]\naws_access_key_id = {creds['AccessKeyId']}\n"
            f"aws_secret_access_key = {creds['SecretAccessKey']}\n"
            f"aws_session_token = {creds['SessionToken']}\n"
        )
    with proxied_aws_env.credentials_file.open("a") as handle:
        handle.write("\n" + "\n".join(lines))
    # The data reader's trust policy, as AWS would apply it: alice's session, not bob's.
    sts_proxy.refuse_principal(f"assumed-role/{chain.hub_role_name}/bob")
    cache = MemoryCache()
    sts_proxy.clear()

    def reader(profile: str) -> RefreshableSession:
        return RefreshableSession(
            AssumeRole(chain.target_role_arn, session_name="reader"),
            source=profile,
            cache=cache,
            region="us-west-2",
        )

    alice = reader("alice")
    body = alice.client("s3").get_object(Bucket=chain.bucket, Key=chain.object_key)["Body"]
    assert body.read() == chain.object_body
    again = reader("alice").get_credentials().get_frozen_credentials().access_key
    assert again == alice.get_credentials().get_frozen_credentials().access_key, "a cache hit"
    bob = reader("bob")
    with pytest.raises(RefreshError, match="AccessDenied"):
        bob.get_credentials().get_frozen_credentials()
    assert sts_proxy.signers("AssumeRole") == [root_keys["alice"], root_keys["bob"]]
    assert bob.get_credentials().credentials is None


def test_an_access_key_id_without_its_secret_never_finds_the_cached_role_credentials(
    world, proxied_aws_env, sts_proxy
):
    # Key ids are no secret (CloudTrail, presigned URLs): the id alone must not be the key.
    with proxied_aws_env.credentials_file.open("a") as handle:
        handle.write(
            f"\n[guess]\naws_access_key_id = {world.access_key_id}\n"
            "aws_secret_access_key = not-the-secret-at-all\n"
        )
    cache = MemoryCache()

    def session(profile: str) -> RefreshableSession:
        hop = AssumeRole(world.role_arn, session_name="app")
        return RefreshableSession(hop, source=profile, cache=cache, region="us-west-2")

    session(PROFILE).get_credentials().get_frozen_credentials()
    guesser = session("guess")
    with pytest.raises(RefreshError, match=r"SignatureDoesNotMatch|InvalidClientTokenId"):
        guesser.get_credentials().get_frozen_credentials()
    assert sts_proxy.calls("AssumeRole") == 2


@pytest.mark.slow
def test_a_forked_child_refreshes_even_if_a_refresh_was_under_way(
    world, proxied_aws_env, sts_proxy
):
    sts_proxy.expiration_seconds = 3
    session = RefreshableSession(
        AssumeRole(world.role_arn, session_name="forked"), source=PROFILE, cache=NoCache()
    )
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    time.sleep(3.2)
    creds = session.get_credentials()
    assert creds._refresh_lock.acquire(), "stand-in for a refresh in flight at fork time"
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                s3.list_objects_v2(Bucket=world.bucket)
                code = 0
            finally:
                os._exit(code)
    finally:
        creds._refresh_lock.release()
    code = wait_for_child(pid, 20, "the forked child hung on a lock inherited from the parent")
    assert code == 0
    assert sts_proxy.calls("AssumeRole") == 2
    assert sts_proxy.expired_signings() == []


@pytest.mark.parametrize(
    ("hop_options", "session_options", "message"),
    [
        ({"tags": {"team": "data\nops"}}, {}, r"value of tag 'team' is invalid: .*U\+000A"),
        ({"tags": {"te\tam": "data"}}, {}, r"tag key 'te\\tam' is invalid: .*U\+0009"),
        ({"policy": '{"Sid": "\u20ac"}'}, {}, r"policy holds U\+20AC"),
        ({}, {"region": "eusc-fr-east-1"}, "region='eusc-fr-east-1' is not an AWS region"),
    ],
)
def test_what_sts_patterns_refuse_costs_no_sts_call(
    world, proxied_aws_env, sts_proxy, hop_options, session_options, message
):
    with pytest.raises(ConfigurationError, match=message):
        RefreshableSession(
            AssumeRole(world.role_arn, session_name="patterns", **hop_options),
            source=PROFILE,
            cache=NoCache(),
            **session_options,
        )
    assert sts_proxy.requests == []


def test_session_token_keys_in_the_environment_ask_sts_for_1h(
    moto_server, world, cross_account_chain, proxied_aws_env, sts_proxy, monkeypatch
):
    user = boto3.client(
        "sts", endpoint_url=moto_server.url, region_name="us-west-2", **world.user_credentials
    )
    hub = cross_account_chain.hub_role_arn
    creds = user.assume_role(RoleArn=hub, RoleSessionName="exported")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    session = RefreshableSession(
        AssumeRole(cross_account_chain.target_role_arn, session_name="after-env", duration="max"),
        region="us-west-2",
        cache=NoCache(),
    )
    session.get_credentials().get_frozen_credentials()
    (record,) = sts_proxy.records("AssumeRole")
    assert record.access_key_id == creds["AccessKeyId"]
    assert record.params["DurationSeconds"] == "3600"
