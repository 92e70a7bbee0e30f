"""RefreshableSession against a moto server subprocess with IAM authentication on."""

from __future__ import annotations

import multiprocessing
import pickle
import time

import pytest
from botocore.exceptions import ClientError

from fixtures.fakes import at_once
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


def seed_session(world, **options):
    options.setdefault("cache", NoCache())
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name="mytestsession"),
        source=PROFILE,
        region="us-west-2",
        **options,
    )


def test_seed_walkthrough(world, proxied_aws_env, sts_proxy):
    session = seed_session(world, duration="1h")
    identity = session.client("sts").get_caller_identity()["Arn"]
    assert identity.endswith(f":assumed-role/{world.role_name}/mytestsession")
    s3 = session.client("s3")
    assert world.bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_object(Bucket=world.bucket, Key=world.object_key)["Body"].read()
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=world.bucket, Key="bucketest", Body=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id]


def test_200_requests_on_15_minute_credentials_make_one_assume_role(
    world, proxied_aws_env, sts_proxy
):
    s3 = seed_session(world, duration="15m").client("s3")
    for _ in range(200):
        s3.list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 1


def test_32_threads_on_a_fresh_session_make_one_assume_role(world, proxied_aws_env, sts_proxy):
    session = seed_session(world)
    errors = at_once(32, lambda: session.client("s3").list_objects_v2(Bucket=world.bucket))
    assert errors == []
    assert sts_proxy.calls("AssumeRole") == 1


def test_sessions_sharing_a_memory_cache_make_one_call(world, proxied_aws_env, sts_proxy):
    cache = MemoryCache()
    for _ in range(10):
        seed_session(world, cache=cache).client("s3").list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 1


def test_cross_account_chain_signs_each_hop_with_the_one_before(
    world, cross_account_chain, proxied_aws_env, sts_proxy
):
    chain = cross_account_chain
    session = RefreshableSession(
        AssumeRole(chain.hub_role_arn, session_name="hop1"),
        AssumeRole(chain.target_role_arn, session_name="hop2", external_id="xyz-123"),
        source=PROFILE,
        region="us-west-2",
        cache=NoCache(),
    )
    identity = session.client("sts").get_caller_identity()["Arn"]
    assert identity == (
        f"arn:aws:sts::{chain.target_account_id}:assumed-role/{chain.target_role_name}/hop2"
    )
    body = session.client("s3").get_object(Bucket=chain.bucket, Key=chain.object_key)["Body"]
    assert body.read() == chain.object_body
    hop1_key = session.hop_credentials[0].get_frozen_credentials().access_key
    hop2_key = session.get_credentials().get_frozen_credentials().access_key
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id, hop1_key]
    assert sts_proxy.signers("GetCallerIdentity") == [hop2_key]


def test_account_id_travels_with_each_hops_credentials_and_their_cache_entries(
    world, cross_account_chain, proxied_aws_env, sts_proxy
):
    chain = cross_account_chain
    cache = MemoryCache()

    def session() -> RefreshableSession:
        return RefreshableSession(
            AssumeRole(chain.hub_role_arn, session_name="hub"),
            AssumeRole(chain.target_role_arn, session_name="reader"),
            source=PROFILE,
            region="us-west-2",
            cache=cache,
        )

    first = session()
    hub, reader = (creds.get_frozen_credentials() for creds in first.hop_credentials)
    assert (hub.account_id, reader.account_id) == (chain.hub_account_id, chain.target_account_id)
    cached = session().get_credentials().get_frozen_credentials()
    assert (cached.access_key, cached.account_id) == (reader.access_key, reader.account_id)
    assert sts_proxy.calls("AssumeRole") == 2, "the second session was served by the cache"


@pytest.mark.parametrize(
    "build",
    [
        lambda w: AssumeRole(w.role_arn, duration="36h"),
        lambda w: AssumeRole(w.role_arn, session_name="x"),
        lambda w: AssumeRole(w.role_arn, external_id="a"),
        lambda w: AssumeRole(w.role_arn, policy="{" + " " * 3000 + "}"),
        lambda w: AssumeRole("arn:aws:iam::123:role/nope"),
        lambda w: RefreshableSession(
            AssumeRole(w.role_arn), AssumeRole(w.role_arn, duration="2h"), source=PROFILE
        ),
        lambda w: RefreshableSession(AssumeRole(w.role_arn), GetSessionToken(), source=PROFILE),
        lambda w: RefreshableSession(AssumeRole(w.role_arn), source="no-such-profile"),
        lambda w: RefreshableSession(AssumeRole(w.role_arn), source=PROFILE, duration="5m"),
    ],
)
def test_refused_input_makes_no_sts_call(world, proxied_aws_env, sts_proxy, build):
    with pytest.raises(ConfigurationError):
        build(world)
    assert sts_proxy.calls() == 0


def _child_identity(data: bytes) -> str:
    session = pickle.loads(data)
    return str(session.client("sts").get_caller_identity()["Arn"])


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_pickled_session_carries_no_secret_and_works_in_another_process(
    world, proxied_aws_env, sts_proxy, start_method
):
    session = seed_session(world, duration="1h")
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    frozen = session.get_credentials().get_frozen_credentials()
    data = pickle.dumps(session)
    for secret in (frozen.secret_key, frozen.token, world.secret_access_key):
        assert secret.encode() not in data
    with multiprocessing.get_context(start_method).Pool(1) as pool:
        arn = pool.apply(_child_identity, (data,))
    assert arn.endswith(f":assumed-role/{world.role_name}/mytestsession")
    assert sts_proxy.calls("AssumeRole") == 2


@pytest.mark.slow
def test_keys_rotate_and_no_request_is_signed_with_an_expired_key(
    world, proxied_aws_env, sts_proxy
):
    sts_proxy.expiration_seconds = 6
    session = seed_session(world)
    s3 = session.client("s3")
    seen = []
    deadline = time.monotonic() + 14
    while time.monotonic() < deadline:
        s3.list_objects_v2(Bucket=world.bucket)
        seen.append(session.get_credentials().get_frozen_credentials().access_key)
        time.sleep(0.05)
    rotations = len(dict.fromkeys(seen)) - 1
    assert rotations >= 2, f"keys rotated {rotations} times in 14 s of 6-second credentials"
    assert sts_proxy.expired_signings() == []
    assert sts_proxy.calls("AssumeRole") == rotations + 1


@pytest.mark.slow
def test_chain_rotates_from_the_root(world, cross_account_chain, proxied_aws_env, sts_proxy):
    sts_proxy.expiration_seconds = 6
    chain = cross_account_chain
    session = RefreshableSession(
        AssumeRole(chain.hub_role_arn, session_name="hop1"),
        AssumeRole(chain.target_role_arn, session_name="hop2"),
        source=PROFILE,
        region="us-west-2",
        cache=NoCache(),
    )
    s3 = session.client("s3")
    deadline = time.monotonic() + 9
    while time.monotonic() < deadline:
        s3.get_object(Bucket=chain.bucket, Key=chain.object_key)
        time.sleep(0.05)
    assert sts_proxy.expired_signings() == []
    signers = sts_proxy.signers("AssumeRole")
    hop1_keys = set(sts_proxy.issued) & set(signers)
    assert len(hop1_keys) >= 2, "hop 2 must have been signed by more than one hop-1 key"


def test_sts_down_in_the_advisory_window_changes_nothing_for_callers(
    world, proxied_aws_env, sts_proxy
):
    sts_proxy.expiration_seconds = 12
    session = seed_session(world)
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    first = session.get_credentials().get_frozen_credentials().access_key
    sts_proxy.fail_all(("status", 500))
    time.sleep(8.2)
    for _ in range(5):
        s3.list_objects_v2(Bucket=world.bucket)
    assert session.get_credentials().get_frozen_credentials().access_key == first
    deadline = time.monotonic() + 3
    while sts_proxy.calls("AssumeRole") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sts_proxy.calls("AssumeRole") >= 2, "the advisory refresh was attempted"


def test_sts_down_past_expiry_is_a_refresh_error_naming_the_hop(world, proxied_aws_env, sts_proxy):
    sts_proxy.expiration_seconds = 3
    session = seed_session(world)
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    sts_proxy.fail_all(("error", "AccessDenied", "not allowed", 403))
    time.sleep(3.2)
    started = time.monotonic()
    with pytest.raises(RefreshError) as info:
        session.client("s3").list_objects_v2(Bucket=world.bucket)
    assert time.monotonic() - started < 5
    assert info.value.hop == 1
    assert "hop 1 of 1 (AssumeRole" in str(info.value)
    assert "AccessDenied" in str(info.value)
    assert sts_proxy.expired_signings() == []


def test_two_throttles_in_a_row_still_yield_credentials(world, proxied_aws_env, sts_proxy):
    sts_proxy.inject(("throttle",), ("throttle",))
    session = seed_session(world)
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 3


def test_profile_alone_signs_with_that_profile_not_the_environment(
    world, proxied_aws_env, sts_proxy, monkeypatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIMPOSTOR00000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "impostor-secret")
    session = RefreshableSession(
        AssumeRole(world.role_arn, session_name="named"),
        profile=PROFILE,
        region="us-west-2",
        cache=NoCache(),
    )
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(f":assumed-role/{world.role_name}/named")
    assert session.profile_name == PROFILE
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id]
