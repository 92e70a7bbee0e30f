"""AssumeRoot, GetScopedCredentials and AssumeRole's trusted identity propagation.

Moto answers neither AssumeRoot nor GetScopedCredentials: the integration tests answer them
with `StsEmulator` behind the proxy, which checks what STS checks.
"""

from __future__ import annotations

import copy
import logging
import pickle
import time

import boto3
import pytest
import time_machine
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from fixtures.moto_server import MotoServer, World, _allow, _policy
from fixtures.sts_emulator import StsEmulator
from fixtures.sts_proxy import StsProxy
from refreshsts import (
    AssumeRole,
    AssumeRoot,
    ConfigurationError,
    GetFederationToken,
    GetScopedCredentials,
    GetSessionToken,
    MemoryCache,
    NoCache,
    RefreshableSession,
    RefreshError,
)
from refreshsts._internal.botocore_sessions import new_botocore_session

PROFILE = "ststestprofile"
ROLE = "arn:aws:iam::123456789012:role/agent"
AUDIT = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
UNLOCK = "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"
IDC = "arn:aws:iam::aws:contextProvider/IdentityCenter"
ASSERTION = "ctx-assertion-" + "s3cr3t" * 20
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
TEMPORARY = boto3.Session(
    aws_access_key_id="ASIAEXAMPLE",
    aws_secret_access_key="s3cr3t",
    aws_session_token="token",
    region_name="us-east-1",
)
LONG_TERM = boto3.Session(
    aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="s3cr3t", region_name="us-east-1"
)


def assertion() -> str:
    """A picklable assertion callable, as an application would pass."""
    return ASSERTION


# Each bad parameter: named, with what is wrong and what STS takes ---------------------------


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: AssumeRoot("12345678901", AUDIT), ["target_principal", "12-digit"]),
        (lambda: AssumeRoot("arn:aws:iam::123456789012:user/x", AUDIT), ["target_principal"]),
        (lambda: AssumeRoot("123456789012", None), ["task_policy_arn", "root-task/<name>"]),
        (
            lambda: AssumeRoot("123456789012", "arn:aws:iam::aws:policy/AdministratorAccess"),
            ["task_policy_arn", "IAMAuditRootUserCredentials", "SQSUnlockQueuePolicy"],
        ),
        (lambda: AssumeRoot("123456789012", AUDIT, duration=901), ["duration=901", "60-900 s"]),
        (lambda: AssumeRoot("123456789012", AUDIT, duration="30s"), ["duration=30", "60-900"]),
        (
            lambda: AssumeRoot("123456789012", AUDIT, minimum_session_token_size=4097),
            ["minimum_session_token_size=4097", "0-4096"],
        ),
        (GetScopedCredentials, ["policy=", "duration="]),
        (lambda: GetScopedCredentials(duration=0), ["duration=0", "positive", "60-129600 s"]),
        (
            lambda: AssumeRoot("123456789012", AUDIT, duration="0s"),
            ["duration='0s'", "positive", "allowed 60-900 s (1m-15m)"],
        ),
        (lambda: GetScopedCredentials(duration=129601), ["duration=129601", "60-129600 s"]),
        (lambda: GetScopedCredentials("x" * 2049), ["policy", "2049", "2048"]),
        (lambda: GetScopedCredentials(READ_ONLY, description="x"), ["description", "2-256"]),
        (
            lambda: GetScopedCredentials(READ_ONLY, minimum_session_token_size=True),
            ["minimum_session_token_size=True", "0-4096"],
        ),
        (
            lambda: AssumeRole(ROLE, provided_contexts=[("arn:aws:iam::aws:policy/x", "abcd")]),
            ["provided_contexts provider ARN", "contextProvider"],
        ),
        (lambda: AssumeRole(ROLE, provided_contexts=[(IDC, "abc")] * 6), ["6 entries", "1-5"]),
        (lambda: AssumeRole(ROLE, provided_contexts=[IDC]), ["provided_contexts", "pair"]),
        (
            lambda: AssumeRole(ROLE, provided_contexts=[(IDC, "abc")]),
            ["provided_contexts[1] assertion", "3 characters", "4-3072"],
        ),
        (
            lambda: AssumeRole(ROLE, minimum_session_token_size=-1),
            ["minimum_session_token_size=-1", "0-4096"],
        ),
    ],
)
def test_bad_input_is_refused_naming_the_parameter_and_its_range(make, words):
    with pytest.raises(ConfigurationError) as refused:
        make()
    for word in words:
        assert word in str(refused.value)


def test_assume_root_request_sends_the_task_policy_as_a_policy_descriptor():
    hop = AssumeRoot(
        "arn:aws:iam::222222222222:root", UNLOCK, duration="15m", minimum_session_token_size=1024
    )
    assert hop.request(duration=900) == {
        "TargetPrincipal": "arn:aws:iam::222222222222:root",
        "TaskPolicyArn": {"arn": UNLOCK},
        "DurationSeconds": 900,
        "MinimumSessionTokenSize": 1024,
    }
    assert hop.account_id == "222222222222"
    assert hop.label == "AssumeRoot 222222222222 for S3UnlockBucketPolicy"
    assert AssumeRoot("222222222222", "arn:aws:iam::aws:policy/root-task/FutureTask")


def test_scoped_credentials_request_and_cache_fields_hold_policy_and_description():
    hop = GetScopedCredentials(READ_ONLY, description="agent run 42")
    fields = hop.cache_fields()
    assert fields["Policy"] == hop.policy and '"s3:GetObject"' in hop.policy
    assert fields["ScopedSessionDescription"] == "agent run 42"
    assert "DurationSeconds" not in hop.request(duration=None)
    assert GetScopedCredentials(duration="10m").request(duration=600) == {"DurationSeconds": 600}


def test_an_assertion_never_shows_in_a_repr_a_request_a_cache_key_or_a_pickle():
    hop = AssumeRole(ROLE, provided_contexts=[(IDC, ASSERTION)], minimum_session_token_size=0)
    assert ASSERTION not in repr(hop)
    assert ASSERTION not in str(hop.request(duration=None))
    assert hop.request(duration=None)["MinimumSessionTokenSize"] == 0
    [[arn, digest]] = hop.cache_fields()["ProvidedContexts"]
    assert arn == IDC and digest.startswith("sha256:") and ASSERTION not in digest
    other = AssumeRole(ROLE, provided_contexts=[(IDC, ASSERTION + "x")])
    assert other.cache_fields()["ProvidedContexts"] != hop.cache_fields()["ProvidedContexts"]
    with pytest.raises(TypeError, match="assertion as fixed text is not picklable") as refused:
        pickle.dumps(hop)
    assert ASSERTION not in str(refused.value)
    assert copy.deepcopy(hop) == hop and copy.copy(hop) is hop
    called = AssumeRole(ROLE, provided_contexts=[(IDC, assertion)])
    assert ASSERTION.encode() not in pickle.dumps(called)
    assert pickle.loads(pickle.dumps(called)) == called


# Where they may stand, refused when the session is built ------------------------------------


def session(*hops, **options):
    return RefreshableSession(*hops, cache=NoCache(), **{"source": TEMPORARY, **options})


@pytest.mark.parametrize(
    ("hops", "options", "words"),
    [
        (
            [GetScopedCredentials(READ_ONLY)],
            {"source": LONG_TERM},
            ["long-term keys", "put GetSessionToken() before it"],
        ),
        (
            [AssumeRole(ROLE, duration="1h"), GetScopedCredentials(duration="2h")],
            {},
            ["duration=7200", "1h the hop before", "InsufficientSessionLifetime"],
        ),
        (
            [AssumeRole(ROLE), GetScopedCredentials(duration="90m")],
            {},
            ["duration=5400", "1h the hop before"],
        ),
        (
            [AssumeRole(ROLE), *[GetScopedCredentials(READ_ONLY)] * 4],
            {},
            ["hop 5 of 5", "scope-down policy 4", "at most 3"],
        ),
        (
            [AssumeRoot("222222222222", AUDIT), AssumeRole(ROLE)],
            {},
            ["root session", "AssumeRoot must be the last hop"],
        ),
        (
            [GetFederationToken("bob"), GetScopedCredentials(READ_ONLY)],
            {"source": LONG_TERM},
            ["GetFederationToken must be the last hop"],
        ),
        (
            [AssumeRoot("222222222222", AUDIT)],
            {"sts_endpoint_url": "https://sts.amazonaws.com"},
            ["hop 1 of 1", "only on regional endpoints", "https://sts.amazonaws.com"],
        ),
        (
            [AssumeRole(ROLE), GetScopedCredentials(duration="15m")],
            {"region": "aws-global"},
            ["hop 2 of 2 (GetScopedCredentials", "only on regional endpoints"],
        ),
    ],
)
def test_what_sts_would_refuse_is_refused_when_the_session_is_built(hops, options, words):
    with pytest.raises(ConfigurationError) as refused:
        session(*hops, **options)
    for word in words:
        assert word in str(refused.value)


def planned(built):
    """Each hop's (duration as planned, lifetime the hops after it may count on)."""
    plans, lifetime = [], None
    for link in built._chain.links:
        duration = link.cache_fields()["duration"]
        lifetime = link.hop.lifetime(duration, chained=link.chained, caller=lifetime)
        plans.append((duration, lifetime))
    return plans


def test_what_sts_accepts_builds_with_the_durations_it_plans():
    built = session(GetSessionToken(), GetScopedCredentials(READ_ONLY), source=LONG_TERM)
    assert planned(built) == [(None, 43200), (None, 43200)]
    built = session(
        AssumeRole(ROLE), *[GetScopedCredentials(READ_ONLY)] * 3, GetScopedCredentials(duration=900)
    )
    assert planned(built) == [(None, 3600)] * 4 + [(900, 900)]
    built = session(
        AssumeRole(ROLE, duration="2h"), GetScopedCredentials(duration="2h"), source=LONG_TERM
    )
    assert planned(built) == [(7200, 7200), (7200, 7200)]
    built = session(AssumeRole(ROLE), GetScopedCredentials(duration="max"), duration="1h")
    assert planned(built) == [(3600, 3600), ("max", 3600)]
    built = session(AssumeRole(ROLE), AssumeRoot("222222222222", AUDIT), region="us-east-1")
    assert planned(built) == [(None, 3600), (None, 900)]
    built = session(GetScopedCredentials(READ_ONLY), AssumeRole(ROLE, duration="1h"))
    assert planned(built) == [(None, None), (3600, 3600)]


def test_environment_keys_without_a_token_are_long_term(monkeypatch, isolated_aws):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID without AWS_SESSION_TOKEN"):
        RefreshableSession(GetScopedCredentials(READ_ONLY), source=None)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    RefreshableSession(GetScopedCredentials(READ_ONLY), source=None)


def test_a_session_duration_does_not_apply_to_scoped_credentials():
    built = session(
        AssumeRole(ROLE), GetScopedCredentials(READ_ONLY), duration="2h", source=LONG_TERM
    )
    assert [link.cache_fields()["duration"] for link in built._chain.links] == [7200, None]


# Against moto, with the emulator behind the proxy -------------------------------------------


@pytest.fixture
def emulator(moto_server: MotoServer, sts_proxy: StsProxy) -> StsEmulator:
    return StsEmulator(moto_server, sts_proxy).install()


def test_scoped_credentials_after_a_role_sign_requests_and_refresh_from_the_role_session(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    built = RefreshableSession(
        AssumeRole(world.role_arn, session_name="agent-host"),
        GetScopedCredentials(READ_ONLY, duration="15m", description="agent run"),
        source=PROFILE,
        cache=NoCache(),
    )
    s3 = built.client("s3")
    body = s3.get_object(Bucket=world.bucket, Key=world.object_key)["Body"].read()
    assert body == world.object_body
    [scoped] = sts_proxy.records("GetScopedCredentials")
    [role] = sts_proxy.records("AssumeRole")
    assert scoped.params["DurationSeconds"] == "900"
    assert scoped.params["ScopedSessionDescription"] == "agent run"
    assert scoped.access_key_id in sts_proxy.issued and scoped.session_token
    final = built.get_credentials().get_frozen_credentials().access_key
    assert final in emulator.scoped and final != scoped.access_key_id
    assert sts_proxy.records(f"GET /{world.bucket}/{world.object_key}")[-1].access_key_id == final
    assert built.hop_credentials[-1].credentials.arn.endswith("/agent-host")
    with time_machine.travel(time.time() + 870, tick=True):
        s3.get_object(Bucket=world.bucket, Key=world.object_key)
        assert sts_proxy.calls("GetScopedCredentials") == 2
        assert sts_proxy.calls("AssumeRole") == 1
        again = built.get_credentials().get_frozen_credentials().access_key
    assert again != final and again in emulator.scoped
    assert sts_proxy.signers("GetScopedCredentials") == [role_key(sts_proxy)] * 2
    assert role.params["RoleSessionName"] == "agent-host"
    assert emulator.refusals == []


def role_key(proxy: StsProxy) -> str:
    return next(key for key in proxy.issued if proxy.principal_of(key))


def test_max_scoped_duration_is_fitted_to_what_the_signing_session_has_left(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    built = RefreshableSession(
        AssumeRole(world.role_arn, duration="1h"),
        GetScopedCredentials(READ_ONLY, duration="max"),
        source=PROFILE,
        cache=NoCache(),
    )
    built.client("s3").get_object(Bucket=world.bucket, Key=world.object_key)
    [scoped] = sts_proxy.records("GetScopedCredentials")
    assert 3500 < int(scoped.params["DurationSeconds"]) <= 3600
    assert emulator.refusals == []


def test_the_emulator_refuses_what_sts_refuses(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    user_sts = new_botocore_session(profile=PROFILE).create_client("sts", region_name="us-west-2")
    with pytest.raises(ClientError, match="InvalidSubjectCredentials"):
        user_sts.get_scoped_credentials(Policy='{"Version":"2012-10-17","Statement":[]}')
    creds = user_sts.assume_role(RoleArn=world.role_arn, RoleSessionName="direct")["Credentials"]
    keys = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    role_sts = new_botocore_session(credentials=keys).create_client("sts", region_name="us-west-2")
    with pytest.raises(ClientError, match="InsufficientSessionLifetime"):
        role_sts.get_scoped_credentials(DurationSeconds=7200)
    with pytest.raises(ClientError, match="ValidationError"):
        role_sts.assume_root(TargetPrincipal="222222222222", TaskPolicyArn={"arn": "x" * 20})
    global_sts = new_botocore_session(credentials=keys).create_client(
        "sts",
        region_name="us-east-1",
        endpoint_url="http://sts.amazonaws.com",
        config=Config(proxies={"http": sts_proxy.url}, retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError, match="global endpoint"):
        global_sts.get_scoped_credentials(DurationSeconds=900)
    assert [code for _, code in emulator.refusals] == [
        "InvalidSubjectCredentials",
        "InsufficientSessionLifetime",
        "ValidationError",
        "InvalidAction",
    ]


def test_refusals_made_when_the_session_is_built_cost_no_sts_call(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    with pytest.raises(ConfigurationError, match="put GetSessionToken"):
        RefreshableSession(GetScopedCredentials(READ_ONLY), source=PROFILE)
    with pytest.raises(ConfigurationError, match="regional endpoints"):
        RefreshableSession(
            AssumeRole(world.role_arn),
            AssumeRoot("222222222222", AUDIT),
            source=PROFILE,
            sts_endpoint_url="https://sts.amazonaws.com",
        )
    assert sts_proxy.requests == []


def test_assume_root_from_the_management_accounts_role_gets_the_members_root_session(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    member = "222222222222"
    emulator.management_account = world.account_id
    built = RefreshableSession(
        AssumeRole(world.role_arn, session_name="org-admin"),
        AssumeRoot(member, AUDIT, duration="max"),
        source=PROFILE,
        cache=NoCache(),
    )
    identity = built.client("sts").get_caller_identity()
    assert identity["Account"] == member
    assert built.hop_credentials[-1].credentials.account_id == member
    [root] = sts_proxy.records("AssumeRoot")
    assert root.params["TaskPolicyArn.arn"] == AUDIT
    assert root.params["TargetPrincipal"] == member
    assert root.params["DurationSeconds"] == "900"
    assert "org-admin" in (sts_proxy.principal_of(root.access_key_id) or "")

    emulator.management_account = "111111111111"
    elsewhere = RefreshableSession(
        AssumeRole(world.role_arn), AssumeRoot(member, AUDIT), source=PROFILE, cache=NoCache()
    )
    with pytest.raises(RefreshError, match="AccessDenied"):
        elsewhere.get_credentials().get_frozen_credentials()
    assert emulator.refusals == [("AssumeRoot", "AccessDenied")]


def test_provided_contexts_reach_sts_and_key_the_cache_by_a_digest_only(
    world: World, proxied_aws_env, sts_proxy: StsProxy, caplog
):
    caplog.set_level(logging.DEBUG, logger="refreshsts")
    cache = MemoryCache()
    made = []
    for text in (ASSERTION, ASSERTION, ASSERTION + "-other"):
        hop = AssumeRole(world.role_arn, provided_contexts=[(IDC, lambda text=text: text)])
        made.append(RefreshableSession(hop, source=PROFILE, cache=cache))
        made[-1].client("s3").list_objects_v2(Bucket=world.bucket)
    sent = [r.params for r in sts_proxy.records("AssumeRole")]
    assert len(sent) == 2, "the same assertion is served from the cache, another is not"
    assert sent[0]["ProvidedContexts.member.1.ProviderArn"] == IDC
    assert sent[0]["ProvidedContexts.member.1.ContextAssertion"] == ASSERTION
    assert sent[1]["ProvidedContexts.member.1.ContextAssertion"] == ASSERTION + "-other"
    assert ASSERTION not in caplog.text
    assert all(ASSERTION not in key for key in cache._entries)
    assert ASSERTION not in repr(made[0]) and ASSERTION not in repr(made[0].hops)


def test_legacy_sts_endpoints_of_a_profile_or_the_environment_are_global(monkeypatch, isolated_aws):
    isolated_aws.write_text(
        "[profile legacy]\nregion = us-east-1\nsts_regional_endpoints = legacy\n"
        "aws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = s3cr3t\n"
        "aws_session_token = token\n"
        "[profile regional]\nregion = us-east-1\n"
        "aws_access_key_id = ASIAEXAMPLE\naws_secret_access_key = s3cr3t\n"
        "aws_session_token = token\n"
    )
    with pytest.raises(ConfigurationError, match=r"global https://sts\.amazonaws\.com"):
        RefreshableSession(GetScopedCredentials(READ_ONLY), source="legacy")
    RefreshableSession(GetScopedCredentials(READ_ONLY), source="regional")
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    with pytest.raises(ConfigurationError, match="only on regional endpoints"):
        RefreshableSession(GetScopedCredentials(READ_ONLY), source="regional")


def test_scoped_credentials_due_with_their_caller_are_made_from_the_callers_new_session(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    sts_proxy.expiration_seconds = 3600  # moto's clock does not travel with the test's
    built = RefreshableSession(
        AssumeRole(world.role_arn, duration="1h"),
        GetScopedCredentials(READ_ONLY),
        source=PROFILE,
        cache=NoCache(),
    )
    s3 = built.client("s3")
    s3.get_object(Bucket=world.bucket, Key=world.object_key)
    role, scoped = built.hop_credentials
    first = scoped.credentials.expiration
    assert abs(first - role.credentials.expiration) <= 1, "without a duration, it inherits"
    with time_machine.travel(time.time() + 2750, tick=True):
        s3.get_object(Bucket=world.bucket, Key=world.object_key)
        assert scoped.wait_for_refresh(10) and role.wait_for_refresh(10)
        assert sts_proxy.calls("AssumeRole") == 2
        assert sts_proxy.calls("GetScopedCredentials") == 2
        assert scoped.credentials.expiration > first + 2000
        assert abs(scoped.credentials.expiration - role.credentials.expiration) <= 1
    assert emulator.refusals == []


def test_minimum_session_token_size_reaches_sts_on_a_session_token(
    world: World, moto_server: MotoServer, proxied_aws_env, sts_proxy: StsProxy
):
    with moto_server.admin():
        moto_server.admin_client("iam").put_user_policy(
            UserName=world.user_name,
            PolicyName="session-token",
            PolicyDocument=_policy(_allow("sts:GetSessionToken", "*")),
        )
    built = RefreshableSession(
        GetSessionToken(minimum_session_token_size=2048), source=PROFILE, cache=NoCache()
    )
    built.get_credentials().get_frozen_credentials()
    [sent] = sts_proxy.records("GetSessionToken")
    assert (sent.status, sent.params["MinimumSessionTokenSize"]) == (200, "2048")


def sts_signing_with(key_id: str, secret: str, token: str | None = None):
    keys = Credentials(key_id, secret, token)
    return new_botocore_session(credentials=keys).create_client("sts", region_name="us-west-2")


def test_the_emulator_refuses_a_wrong_secret_or_session_token_for_the_right_key_id(
    world: World, proxied_aws_env, sts_proxy: StsProxy, emulator: StsEmulator
):
    user = sts_signing_with(world.access_key_id, world.secret_access_key)
    role = user.assume_role(RoleArn=world.role_arn, RoleSessionName="direct")["Credentials"]
    key, secret, token = role["AccessKeyId"], role["SecretAccessKey"], role["SessionToken"]
    assert sts_proxy.known(key) is not None and sts_proxy.known(key).session_token == token
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        sts_signing_with(world.access_key_id, secret).assume_root(
            TargetPrincipal="222222222222", TaskPolicyArn={"arn": AUDIT}
        )
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        sts_signing_with(key, world.secret_access_key, token).get_scoped_credentials(
            DurationSeconds=900
        )
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        sts_signing_with(key, secret, token[:-8] + "AAAAAAAA").get_scoped_credentials(
            DurationSeconds=900
        )
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        sts_signing_with(world.access_key_id, world.secret_access_key, token).assume_root(
            TargetPrincipal="222222222222", TaskPolicyArn={"arn": AUDIT}
        )
    scoped = sts_signing_with(key, secret, token).get_scoped_credentials(DurationSeconds=900)
    assert scoped["Credentials"]["AccessKeyId"] in emulator.scoped
    assert [code for _, code in emulator.refusals] == [
        "SignatureDoesNotMatch",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "InvalidClientTokenId",
    ]
    assert all(record.status == 403 for record in sts_proxy.records("AssumeRoot"))
