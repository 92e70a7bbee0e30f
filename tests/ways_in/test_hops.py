"""The new hops on their own: requests, secrets kept out of keys and reprs, up-front checks."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.validate import validate_parameters

import refreshsts.sources as sources
from refreshsts import (
    AssumeRole,
    AssumeRoleWithSAML,
    AssumeRoleWithWebIdentity,
    ConfigurationError,
    GetFederationToken,
    GetSessionToken,
    NoCache,
    RefreshableSession,
    RefreshError,
)
from refreshsts._internal.botocore_sessions import new_botocore_session
from refreshsts.hops._mfa import MfaCodeError
from refreshsts.hops._tokens import TokenError

from .makers import make_jwt, make_saml

ROLE = "arn:aws:iam::123456789012:role/ci-deploy"
IDP = "arn:aws:iam::123456789012:saml-provider/corp-adfs"
MFA = "arn:aws:iam::123456789012:mfa/alice"
STATIC = boto3.Session(
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s3cr3t", region_name="us-east-1"
)
STS_RESPONSE = {
    "Credentials": {
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "secret",
        "SessionToken": "token",
        "Expiration": "2030-01-01T00:00:00Z",
    },
    "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/ci-deploy/x"},
}


class RecordingClient:
    """Stands in for an STS client: records each call's parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Any:
        def call(**params: Any) -> dict[str, Any]:
            self.calls.append((operation, params))
            return STS_RESPONSE

        return call


# AssumeRoleWithWebIdentity ---------------------------------------------------------------------


def test_web_identity_reads_the_token_file_afresh_on_every_call(tmp_path):
    path = tmp_path / "token"
    hop = AssumeRoleWithWebIdentity(ROLE, token_file=path, session_name="gha", duration="2h")
    client = RecordingClient()
    for sub in ("first", "second"):
        token = make_jwt(sub)
        path.write_text(token + "\n")
        hop.call(client, duration=7200)
        operation, params = client.calls[-1]
        assert operation == "assume_role_with_web_identity"
        assert params == {
            "RoleArn": ROLE,
            "RoleSessionName": "gha",
            "DurationSeconds": 7200,
            "WebIdentityToken": token,
        }


def test_web_identity_token_callable_is_asked_per_call_and_text_is_accepted():
    tokens = iter([make_jwt("a"), make_jwt("b")])
    asked = []

    def token() -> str:
        asked.append(1)
        return next(tokens)

    hop = AssumeRoleWithWebIdentity(ROLE, token=token, provider_id="www.amazon.com")
    client = RecordingClient()
    hop.call(client, duration=None)
    hop.call(client, duration=None)
    assert len(asked) == 2
    assert client.calls[0][1]["ProviderId"] == "www.amazon.com"
    fixed = AssumeRoleWithWebIdentity(ROLE, token=make_jwt("c"))
    fixed.call(client, duration=None)
    assert client.calls[-1][1]["WebIdentityToken"].count(".") == 2


def test_web_identity_cache_key_holds_a_digest_of_the_whole_token_never_the_token(tmp_path):
    path = tmp_path / "token"
    token = make_jwt("repo:org/app:ref:refs/heads/main")
    path.write_text(token)
    hop = AssumeRoleWithWebIdentity(ROLE, token_file=path)
    fields = hop.cache_fields()
    assert token not in repr(fields)
    assert fields["RoleSessionName"] is None
    assert fields["Token"].startswith("sha256:")
    assert hop.cache_fields()["Token"] == fields["Token"], "the same token: the same key"
    header, claims, _ = token.split(".")
    path.write_text(f"{header}.{claims}.Zm9yZ2Vk")
    assert hop.cache_fields()["Token"] != fields["Token"], "same claims, other signature"
    path.write_text(make_jwt("repo:org/app:ref:refs/heads/main"))
    assert hop.cache_fields()["Token"] != fields["Token"], "a rotated token: one STS call"
    assert "token" not in repr(hop).split("token_file")[0]
    assert token not in repr(AssumeRoleWithWebIdentity(ROLE, token=token))


def test_a_token_read_for_the_cache_key_serves_the_call_right_after_it():
    asked = []

    def token() -> str:
        asked.append(1)
        return make_jwt("only-once")

    hop = AssumeRoleWithWebIdentity(ROLE, token=token)
    hop.cache_fields()
    hop.call(RecordingClient(), duration=None)
    assert len(asked) == 1
    hop.call(RecordingClient(), duration=None)
    assert len(asked) == 2


def test_web_identity_is_picklable_with_a_file_and_equal_by_value(tmp_path):
    hop = AssumeRoleWithWebIdentity(ROLE, token_file=tmp_path / "t", duration="max")
    assert pickle.loads(pickle.dumps(hop)) == hop
    assert hop.with_duration("1h").duration == 3600
    assert hop.with_duration("1h").token_file == hop.token_file


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "pass exactly one of token_file= .* or token=.*got neither"),
        ({"token_file": "/t", "token": "abcd"}, "got both"),
        ({"token": 42}, "token must be text or a callable"),
        ({"token": "abc"}, "token is 3 characters; STS accepts 4-20000"),
        ({"token_file": 7}, "token_file must be a path"),
        ({"token": "abcd", "provider_id": "x"}, "provider_id='x' is invalid: 4-2048"),
        ({"token": "abcd", "duration": "13h"}, r"out of range: allowed 900-43200 s.*MaxSession"),
        ({"token": "abcd", "session_name": "a b"}, "session_name='a b' is invalid"),
        ({"token": "abcd", "policy": "nope"}, "policy is not valid JSON"),
        ({"token_file": b"/t"}, r"token_file must be a path \(text or a pathlib.Path\), not bytes"),
        ({"token_file": ""}, "token_file is empty"),
        ({"token": "abcd", "session_name": 7}, "session_name must be text of 2-64 characters"),
        ({"token": "abcd", "policy_arns": 3}, "policy_arns must be a list of at most 10"),
        ({"token": "abcd", "provider_id": 7}, "provider_id=7 is invalid: 4-2048 characters"),
    ],
)
def test_web_identity_refuses_bad_input(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        AssumeRoleWithWebIdentity(ROLE, **kwargs)


def test_web_identity_token_file_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="is a directory"):
        AssumeRoleWithWebIdentity(ROLE, token_file=tmp_path)


def test_a_missing_or_empty_token_file_is_a_clear_error_at_call_time(tmp_path):
    hop = AssumeRoleWithWebIdentity(ROLE, token_file=tmp_path / "missing")
    with pytest.raises(TokenError, match=r"token file .*missing' does not exist"):
        hop.call(RecordingClient(), duration=None)
    (tmp_path / "missing").write_text("  \n")
    with pytest.raises(TokenError, match="token is 0 characters"):
        hop.call(RecordingClient(), duration=None)


# AssumeRoleWithSAML ----------------------------------------------------------------------------


def test_saml_asks_the_callable_per_call_and_keys_on_the_whole_assertion():
    assertions = []

    def assertion() -> str:
        assertions.append(make_saml(ROLE, IDP, name_id="alice@example.com", session_name="alice"))
        return assertions[-1]

    hop = AssumeRoleWithSAML(ROLE, IDP, assertion=assertion, duration="4h")
    fields = hop.cache_fields()
    assert fields["Token"].startswith("sha256:")
    assert assertions[0] not in repr(fields)
    client = RecordingClient()
    hop.call(client, duration=14400)
    hop.call(client, duration=14400)
    assert len(assertions) == 2, "one for the key (reused by the first call), one more"
    operation, params = client.calls[-1]
    assert operation == "assume_role_with_saml"
    assert params == {
        "RoleArn": ROLE,
        "PrincipalArn": IDP,
        "DurationSeconds": 14400,
        "SAMLAssertion": assertions[-1],
    }
    bob = AssumeRoleWithSAML(
        ROLE, IDP, assertion=make_saml(ROLE, IDP, name_id="bob@example.com", session_name="bob")
    )
    assert bob.cache_fields()["Token"] != fields["Token"]
    same_subject = make_saml(ROLE, IDP, name_id="alice@example.com", session_name="alice")
    forged = AssumeRoleWithSAML(ROLE, IDP, assertion=same_subject + "AAAA")
    assert forged.cache_fields()["Token"] != fields["Token"], "same Issuer and NameID"
    assert "assertion" not in repr(bob)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((ROLE, "arn:aws:iam::123456789012:role/x"), {"assertion": "abcd"}, "not a SAML provider"),
        ((ROLE, IDP), {"assertion": 3}, "assertion must be text or a callable"),
        ((ROLE, IDP), {"assertion": "ab"}, "assertion is 2 characters; STS accepts 4-100000"),
        ((ROLE, IDP), {"assertion": "abcd", "duration": 600}, "allowed 900-43200"),
        ((ROLE, IDP), {"assertion": None}, "assertion must be text or a callable .* NoneType"),
        (
            (ROLE, "arn:aws:iam::" + "\u0661" * 12 + ":saml-provider/corp"),
            {"assertion": "abcd"},
            "not a SAML provider ARN",
        ),
        ((ROLE, IDP), {"assertion": "abcd", "policy": "[1]"}, "not a policy document"),
    ],
)
def test_saml_refuses_bad_input(args, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        AssumeRoleWithSAML(*args, **kwargs)


# GetFederationToken -----------------------------------------------------------------------------


def test_federation_token_request_and_limits():
    hop = GetFederationToken(
        "partner-app",
        policy={"Version": "2012-10-17", "Statement": []},
        policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        tags={"team": "data"},
        duration="36h",
    )
    assert hop.request(duration=129600) == {
        "Name": "partner-app",
        "DurationSeconds": 129600,
        "Policy": '{"Version":"2012-10-17","Statement":[]}',
        "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}],
        "Tags": [{"Key": "team", "Value": "data"}],
    }
    assert hop.with_duration("1h").tags == hop.tags
    with pytest.raises(ConfigurationError, match=r"name='a' is invalid: it must be 2-32"):
        GetFederationToken("a")
    with pytest.raises(ConfigurationError, match="2-32 characters"):
        GetFederationToken("x" * 33)
    with pytest.raises(ConfigurationError, match=r"allowed 900-129600 s \(15m-36h\)"):
        GetFederationToken("app", duration="37h")


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        (5, {}, r"GetFederationToken: name must be text of 2-32 characters .* not int"),
        ("app", {"tags": "ab"}, r"tags must be a mapping of key to value or \(key, value\) pairs"),
        ("app", {"tags": [("a", "1"), ("a", "2")]}, "tag key 'a' is given twice"),
        ("app", {"policy_arns": None}, "policy_arns must be a list .* not NoneType"),
        ("app", {"duration": "0"}, "not a positive duration: allowed 900-129600 s"),
    ],
)
def test_federation_token_refuses_bad_input(name, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        GetFederationToken(name, **kwargs)


def test_federation_token_is_first_and_last():
    with pytest.raises(ConfigurationError, match="GetFederationToken must be the last hop"):
        RefreshableSession(GetFederationToken("app"), AssumeRole(ROLE), source=STATIC)
    with pytest.raises(ConfigurationError, match="so it must be the first hop"):
        RefreshableSession(AssumeRole(ROLE), GetFederationToken("app"), source=STATIC)


def test_root_callers_one_hour_session_tokens_are_explained(caplog):
    caplog.set_level("INFO", logger="refreshsts")

    class OneHour(RecordingClient):
        def get_session_token(self, **params: Any) -> dict[str, Any]:
            return {
                "Credentials": {**STS_RESPONSE["Credentials"], "Expiration": _in(3600)},
            }

    GetSessionToken(duration="36h").call(OneHour(), duration=129600)
    assert "the source is the account root user" in caplog.text


def _in(seconds: int) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Unsigned hops stand first ---------------------------------------------------------------------


def test_unsigned_hops_must_be_first():
    web = AssumeRoleWithWebIdentity(ROLE, token="abcd")
    with pytest.raises(ConfigurationError, match=r"is sent without credentials .* first hop"):
        RefreshableSession(AssumeRole(ROLE), web, source=STATIC)
    saml = AssumeRoleWithSAML(ROLE, IDP, assertion="abcd")
    with pytest.raises(ConfigurationError, match=r"hop 2 of 2 .*AssumeRoleWithSAML"):
        RefreshableSession(GetSessionToken(), saml, source=STATIC)


def test_after_web_identity_an_assume_role_is_chained():
    web = AssumeRoleWithWebIdentity(ROLE, token="abcd")
    with pytest.raises(ConfigurationError, match="role chaining"):
        RefreshableSession(web, AssumeRole(ROLE, duration="2h"))


def test_an_unsigned_first_hop_never_resolves_the_source(isolated_aws, monkeypatch):
    def boom(self):
        raise AssertionError("the source was resolved")

    monkeypatch.setattr(sources.Source, "credentials", boom)
    session = RefreshableSession(AssumeRoleWithWebIdentity(ROLE, token=make_jwt("x")))
    key = session._chain.cache_key(0)
    assert len(key) == 64
    client = session._chain.links[0].sts_client
    assert client.meta.config.signature_version is UNSIGNED


# MFA on AssumeRole and GetSessionToken ---------------------------------------------------------


def test_mfa_code_is_asked_only_when_sts_is_called_and_sent_as_token_code():
    codes = iter(["111111", "222222"])
    asked = []

    def mfa() -> str:
        asked.append(1)
        return next(codes)

    hop = AssumeRole(ROLE, session_name="mfa", mfa_serial=MFA, mfa_token=mfa)
    assert hop.cache_fields()["SerialNumber"] == MFA
    assert "TokenCode" not in hop.cache_fields()
    assert asked == []
    client = RecordingClient()
    hop.call(client, duration=None)
    hop.with_duration("1h").call(client, duration=3600)
    assert [params["TokenCode"] for _, params in client.calls] == ["111111", "222222"]
    assert all(params["SerialNumber"] == MFA for _, params in client.calls)
    assert "mfa_token" not in repr(hop)
    assert pickle.loads(pickle.dumps(AssumeRole(ROLE, mfa_serial=MFA))) == AssumeRole(
        ROLE, mfa_serial=MFA
    )


@pytest.mark.parametrize("code", ["12345", "\u0661\u0662\u0663\u0664\u0665\u0666"])
def test_a_malformed_code_is_refused_before_sts(code):
    client = RecordingClient()
    with pytest.raises(MfaCodeError, match="not a 6-digit code"):
        GetSessionToken(mfa_serial=MFA, mfa_token=lambda: code).call(client, duration=None)
    assert client.calls == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mfa_token": lambda: "123456"}, "mfa_token is set but mfa_serial is not"),
        ({"mfa_serial": "short"}, "mfa_serial='short' is invalid"),
        ({"mfa_serial": MFA, "mfa_token": "123456"}, "must be a callable .* not a code"),
        ({"mfa_serial": MFA, "mfa_token": 123456}, "must be a callable"),
    ],
)
def test_mfa_settings_are_checked(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        GetSessionToken(**kwargs)
    with pytest.raises(ConfigurationError, match=message):
        AssumeRole(ROLE, **kwargs)


def test_get_session_token_keeps_mfa_when_copied():
    hop = GetSessionToken(duration="12h", mfa_serial=MFA, mfa_token=lambda: "123456")
    longer = hop.with_duration("36h")
    assert (longer.duration, longer.mfa_serial, longer.mfa_token) == (
        129600,
        MFA,
        hop.mfa_token,
    )
    assert hop.label == f"GetSessionToken with MFA {MFA}"
    assert hop.cache_fields() == {"SerialNumber": MFA}


def test_a_token_file_that_is_not_utf8_is_a_token_error(tmp_path):
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe not text")
    client = RecordingClient()
    with pytest.raises(TokenError, match="cannot read token file"):
        AssumeRoleWithWebIdentity(ROLE, token_file=path).call(client, duration=None)
    assert client.calls == []


def test_copies_keep_every_field_and_are_validated_again(tmp_path):
    saml = AssumeRoleWithSAML(ROLE, IDP, assertion="abcd", policy={}, duration="1h")
    assert saml.with_duration("2h") == AssumeRoleWithSAML(
        ROLE, IDP, assertion="abcd", policy={}, duration="2h"
    )
    web = AssumeRoleWithWebIdentity(ROLE, token_file=tmp_path / "t", provider_id="www.amazon.com")
    assert web.with_duration("2h").provider_id == "www.amazon.com"
    federation = GetFederationToken("app", tags={"team": "data"}, policy_arns=[])
    assert federation.with_duration(900) == GetFederationToken(
        "app", tags=[("team", "data")], duration=900
    )
    with pytest.raises(ConfigurationError, match="out of range"):
        saml.with_duration("13h")


def test_a_missing_token_file_is_a_refresh_error_naming_the_file(isolated_aws, tmp_path):
    session = RefreshableSession(
        AssumeRoleWithWebIdentity(ROLE, token_file=tmp_path / "nope"), cache=NoCache()
    )
    with pytest.raises(RefreshError, match=r"hop 1 of 1 .*token file '.*nope' does not exist"):
        session.get_credentials().get_frozen_credentials()


def _held_token() -> str:
    return make_jwt("held")


def test_a_held_token_never_travels_in_a_pickle_or_a_copy():
    hop = AssumeRoleWithWebIdentity(ROLE, token=_held_token)
    hop.cache_fields()
    for other in (pickle.loads(pickle.dumps(hop)), copy.deepcopy(hop)):
        assert other == hop
        assert other.__dict__["_token"]._held is None
    assert hop.__dict__["_token"]._held is not None


TOKEN_SIZED = {
    "GetSessionToken": lambda **kw: GetSessionToken(mfa_serial=MFA, mfa_token=code, **kw),
    "GetFederationToken": lambda **kw: GetFederationToken("app", **kw),
    "AssumeRoleWithWebIdentity": lambda **kw: AssumeRoleWithWebIdentity(ROLE, token="a.b.c", **kw),
    "AssumeRoleWithSAML": lambda **kw: AssumeRoleWithSAML(ROLE, IDP, assertion="abcd", **kw),
}


def code() -> str:
    return "123456"


@pytest.mark.parametrize("operation", TOKEN_SIZED)
def test_minimum_session_token_size_is_sent_keyed_and_accepted_by_the_sts_model(operation):
    hop = TOKEN_SIZED[operation](minimum_session_token_size=2048)
    assert hop.request(duration=900)["MinimumSessionTokenSize"] == 2048
    assert hop.cache_fields()["MinimumSessionTokenSize"] == 2048
    assert "MinimumSessionTokenSize" not in TOKEN_SIZED[operation]().request(duration=None)
    least = TOKEN_SIZED[operation](minimum_session_token_size=0)
    assert least.request(duration=None)["MinimumSessionTokenSize"] == 0
    assert hop.with_duration("1h").minimum_session_token_size == 2048
    assert hop != TOKEN_SIZED[operation](minimum_session_token_size=1024)
    client = RecordingClient()
    hop.call(client, duration=900)
    [(_, sent)] = client.calls
    assert sent["MinimumSessionTokenSize"] == 2048
    model = new_botocore_session().get_service_model("sts").operation_model(operation)
    validate_parameters(sent, model.input_shape)


@pytest.mark.parametrize("operation", TOKEN_SIZED)
@pytest.mark.parametrize("value", [-1, 4097, True, "1024", 1.5])
def test_a_minimum_session_token_size_out_of_range_is_refused_naming_the_range(operation, value):
    with pytest.raises(ConfigurationError) as refused:
        TOKEN_SIZED[operation](minimum_session_token_size=value)
    text = str(refused.value)
    assert text.startswith(operation)
    assert f"minimum_session_token_size={value!r} is out of range" in text
    assert "0-4096" in text
