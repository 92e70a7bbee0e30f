"""refreshsts.tokens.aws_web_identity: STS GetWebIdentityToken, answered by an emulator
behind the STS proxy (moto lacks the operation), signed by the session's credentials."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
import time_machine
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from fixtures.sts_proxy import StsProxy
from fixtures.token_endpoints import WebIdentityTokenIssuer, assert_no_secret, claims_of
from refreshsts import AssumeRole, ConfigurationError, RefreshableSession, RefreshError, tokens
from refreshsts._internal.botocore_sessions import new_botocore_session

AUDIENCE = "https://auth.example.com"


@contextmanager
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(time.time(), tick=True) as traveller:
        yield traveller


@pytest.fixture
def issuer(proxied_aws_env, sts_proxy: StsProxy) -> WebIdentityTokenIssuer:
    emulator = WebIdentityTokenIssuer()
    sts_proxy.answer("GetWebIdentityToken", emulator)
    return emulator


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path) -> boto3.Session:
    """A boto3 session with made-up keys and no endpoint override: nothing may be sent."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_STS_REGIONAL_ENDPOINTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret")


def test_a_boto3_session_signs_the_call_on_its_regional_endpoint(
    world, issuer: WebIdentityTokenIssuer, sts_proxy: StsProxy
) -> None:
    session = boto3.Session(profile_name="ststestprofile", region_name="eu-central-1")
    provider = tokens.aws_web_identity(
        session,
        [AUDIENCE, "sts.amazonaws.com"],
        signing_algorithm="ES384",
        duration="10m",
        tags={"team": "data"},
    )
    token = provider()
    (request,) = issuer.calls
    assert request.access_key_id == world.access_key_id
    assert issuer.regions == ["eu-central-1"]
    assert request.params["Audience.member.1"] == AUDIENCE
    assert request.params["Audience.member.2"] == "sts.amazonaws.com"
    assert request.params["SigningAlgorithm"] == "ES384"
    assert request.params["DurationSeconds"] == "600"
    assert (request.params["Tags.member.1.Key"], request.params["Tags.member.1.Value"]) == (
        "team",
        "data",
    )
    assert token == issuer.issued[0]
    assert claims_of(token)["aud"] == [AUDIENCE, "sts.amazonaws.com"]
    assert provider.expiration is not None
    assert 590 < provider.expiration.timestamp() - time.time() <= 600
    assert token not in repr(provider)


def test_a_refreshable_session_signs_with_its_own_role_session(
    world, issuer: WebIdentityTokenIssuer, sts_proxy: StsProxy
) -> None:
    session = RefreshableSession(
        AssumeRole(world.role_arn), source="ststestprofile", region="us-west-2"
    )
    provider = tokens.aws_web_identity(session, AUDIENCE)
    provider()
    role_key = session.get_credentials().get_frozen_credentials().access_key
    assert sts_proxy.signers("GetWebIdentityToken") == [role_key]
    assert role_key != world.access_key_id
    assert sts_proxy.principal_of(role_key) is not None


def test_the_token_is_reused_while_fresh_and_fetched_again_before_it_expires(
    world, issuer: WebIdentityTokenIssuer
) -> None:
    session = boto3.Session(profile_name="ststestprofile", region_name="us-west-2")
    provider = tokens.aws_web_identity(session, AUDIENCE)  # STS's default: 300 s
    with clock() as traveller:
        first = provider()
        assert [provider() for _ in range(5)] == [first] * 5
        traveller.shift(235)  # 65 s left: still more than the one-minute margin
        assert provider() == first
        traveller.shift(10)  # 55 s left
        second = provider()
    assert second != first
    assert len(issuer.calls) == 2
    short = tokens.aws_web_identity(session, AUDIENCE, duration=60)
    with clock() as traveller:
        third = short()
        traveller.shift(35)  # 25 s left: more than a third of its life
        assert short() == third
        traveller.shift(10)  # 15 s left
        assert short() != third
    assert len(issuer.calls) == 4


def test_a_failed_refresh_hands_out_the_token_in_hand_until_it_expires(
    world, issuer: WebIdentityTokenIssuer, sts_proxy: StsProxy, caplog: pytest.LogCaptureFixture
) -> None:
    session = boto3.Session(profile_name="ststestprofile", region_name="us-west-2")
    provider = tokens.aws_web_identity(session, AUDIENCE)
    with clock() as traveller:
        first = provider()
        sts_proxy.fail_all(("error", "AccessDenied", "not now", 403), action="GetWebIdentityToken")
        traveller.shift(250)  # in the margin, 50 s left
        assert provider() == first
        assert provider() == first, "asked again only after a pause"
        assert sts_proxy.calls("GetWebIdentityToken") == 2
        traveller.shift(47)  # 3 s left: too little to hand out
        with pytest.raises(RefreshError, match="AccessDenied: not now"):
            provider()
    assert "the token in hand serves until it expires" in caplog.text
    assert first not in caplog.text


def test_threads_asking_together_share_one_call(world, issuer: WebIdentityTokenIssuer) -> None:
    issuer.delay = 0.3
    session = boto3.Session(profile_name="ststestprofile", region_name="us-west-2")
    provider = tokens.aws_web_identity(session, AUDIENCE)
    start = threading.Barrier(8)
    got: list[str] = []

    def ask() -> None:
        start.wait()
        got.append(provider())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [issuer.issued[0]] * 8
    assert len(issuer.calls) == 1


def test_sts_refusals_are_refresh_errors_with_the_code_and_a_hint(
    world, issuer: WebIdentityTokenIssuer, sts_proxy: StsProxy
) -> None:
    code = "OutboundWebIdentityFederationDisabledException"
    message = "The outbound web identity federation feature is not enabled for this account."
    sts_proxy.inject(("error", code, message, 403), action="GetWebIdentityToken")
    session = boto3.Session(profile_name="ststestprofile", region_name="us-west-2")
    provider = tokens.aws_web_identity(session, AUDIENCE)
    with pytest.raises(RefreshError) as info:
        provider()
    text = str(info.value)
    assert text == (
        f"GetWebIdentityToken for audience {AUDIENCE} in us-west-2: STS answered {code}: "
        f"{message}: enable it with 'aws iam enable-outbound-web-identity-federation'"
    )
    token = provider()
    assert token == issuer.issued[0]
    assert_no_secret(text, world.secret_access_key)


def test_a_pickle_carries_the_session_and_parameters_never_the_token(
    world, issuer: WebIdentityTokenIssuer
) -> None:
    session = RefreshableSession(
        AssumeRole(world.role_arn), source="ststestprofile", region="us-west-2"
    )
    provider = tokens.aws_web_identity(session, AUDIENCE, duration=120)
    token = provider()
    data = pickle.dumps(provider)
    assert token.encode() not in data
    copy = pickle.loads(data)
    assert repr(copy) == repr(provider)
    assert copy() == issuer.issued[1], "the copy asks STS for its own token"


def test_without_a_region_nothing_is_sent(offline: boto3.Session) -> None:
    with pytest.raises(ConfigurationError, match="no region: GetWebIdentityToken needs a regional"):
        tokens.aws_web_identity(offline, AUDIENCE)
    with pytest.raises(ConfigurationError, match="no region"):
        tokens.aws_web_identity(offline, AUDIENCE, region="aws-global")


def test_the_global_endpoint_is_refused_before_any_call(
    offline: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    with pytest.raises(ConfigurationError, match=r"is the global https://sts\.amazonaws\.com"):
        tokens.aws_web_identity(offline, AUDIENCE, region="us-east-1")
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "regional")
    provider = tokens.aws_web_identity(offline, AUDIENCE, region="us-east-1")
    assert provider.region == "us-east-1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audience": []}, "0 audiences given; STS accepts 1-10"),
        ({"audience": [f"a{n}" for n in range(11)]}, "11 audiences given"),
        ({"audience": ""}, "audience '' must be text of 1-1000"),
        ({"audience": "a" * 1001}, "must be text of 1-1000"),
        ({"audience": 5}, "audience must be text or a list of text, not int"),
        ({"signing_algorithm": "HS256"}, "signing_algorithm='HS256' must be one of RS256, ES384"),
        ({"duration": 59}, r"duration=59 must be 1m-1h \(60-3600 s\)"),
        ({"duration": "2h"}, "duration='2h' must be"),
        ({"duration": "max"}, "duration='max' must be"),
        ({"tags": {"aws:x": "y"}}, "reserved prefix 'aws:'"),
        ({"tags": {f"k{n}": "v" for n in range(51)}}, "51 tags given"),
        ({"region": "mars-1"}, "region='mars-1' is not an AWS region"),
        ({"endpoint_url": "not a url"}, "endpoint_url='not a url' must be an http"),
        ({"endpoint_url": "ftp://sts.example"}, "endpoint_url='ftp://sts.example' must be"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    offline: boto3.Session, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"audience": AUDIENCE, "region": "us-west-2", **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        tokens.aws_web_identity(offline, **args)  # type: ignore[arg-type]


def test_a_session_without_credentials_is_refused(
    offline: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="the session has no credentials"):
        tokens.aws_web_identity(boto3.Session(region_name="us-west-2"), AUDIENCE)


def test_an_answer_botocore_cannot_parse_never_quotes_its_token(
    world, issuer: WebIdentityTokenIssuer, sts_proxy: StsProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore's ResponseParserError quotes the body: a cut-short answer holds a new JWT."""
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJuZXcifQ.NEW-TOKEN-SIGNATURE"
    cut_short = (
        "<GetWebIdentityTokenResponse><GetWebIdentityTokenResult>"
        f"<WebIdentityToken>{secret}</WebIdentityToken><Expiration>2030-01-01T00:00:00Z</Expir"
    ).encode()
    session = boto3.Session(profile_name="ststestprofile", region_name="us-west-2")
    provider = tokens.aws_web_identity(session, AUDIENCE)
    with clock() as traveller:
        first = provider()
        sts_proxy.inject(
            ("raw", 200, cut_short), ("raw", 200, cut_short), action="GetWebIdentityToken"
        )
        traveller.shift(250)
        assert provider() == first, "the token in hand still serves"
        traveller.shift(47)
        with pytest.raises(RefreshError, match="ResponseParserError") as caught:
            provider()
    assert secret not in str(caught.value)
    assert caught.value.__cause__ is None
    assert secret not in str(caught.value.__context__), "only the stand-in, never the body"
    assert secret not in caplog.text


def test_the_issuer_refuses_a_wrong_secret_or_session_token_for_the_right_key_id(
    world, issuer: WebIdentityTokenIssuer, sts_proxy: StsProxy
) -> None:
    def ask(key: str, secret: str, token: str | None = None) -> dict:
        client = new_botocore_session(credentials=Credentials(key, secret, token)).create_client(
            "sts", region_name="us-west-2"
        )
        return client.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")

    user = boto3.Session(profile_name="ststestprofile", region_name="us-west-2").client("sts")
    role = user.assume_role(RoleArn=world.role_arn, RoleSessionName="direct")["Credentials"]
    key, secret, token = role["AccessKeyId"], role["SecretAccessKey"], role["SessionToken"]
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        ask(world.access_key_id, secret)
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        ask(key, secret, token[:-8] + "AAAAAAAA")
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        ask(key, secret)
    assert issuer.issued == []
    assert issuer.refusals == [
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "InvalidClientTokenId",
    ]
    assert ask(key, secret, token)["WebIdentityToken"] == issuer.issued[0]
