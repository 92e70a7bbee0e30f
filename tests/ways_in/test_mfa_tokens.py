"""MFA codes and identity tokens read at call time: how often they are asked, and where they go.

The MFA module's wall clock is a fake whose sleep moves it on at once, so the wait for the
next 30-second TOTP step costs nothing here.
"""

from __future__ import annotations

import copy
import os
import pickle
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fixtures.fakes import wait_for_child
from refreshsts import (
    AssumeRole,
    AssumeRoleWithSAML,
    AssumeRoleWithWebIdentity,
    GetSessionToken,
    MemoryCache,
    NoCache,
    RefreshableSession,
    RefreshError,
)
from refreshsts._chain import Chain
from refreshsts.hops import _mfa, _tokens
from refreshsts.hops._mfa import MfaCodeError, next_code

from .makers import make_jwt, make_saml

ROLE = "arn:aws:iam::123456789012:role/ci-deploy"
TARGET = "arn:aws:iam::222222222222:role/data-reader"
IDP = "arn:aws:iam::123456789012:saml-provider/corp-adfs"
MFA = "arn:aws:iam::123456789012:mfa/alice"
STATIC = boto3.Session(
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s3cr3t", region_name="us-east-1"
)
TOO_LONG = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


class DeviceClock:
    """The MFA module's wall clock: starts 10 s into a TOTP step; sleeping moves it on."""

    def __init__(self) -> None:
        self.now = 40_000 * 30 + 10.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def totp(self) -> str:
        """What an authenticator shows now: a new code each 30-second step."""
        return f"{int(self.now // 30) % 1_000_000:06d}"


@pytest.fixture(autouse=True)
def device_clock(monkeypatch: pytest.MonkeyPatch) -> DeviceClock:
    clock = DeviceClock()
    monkeypatch.setattr(_mfa, "_now", clock.time, raising=False)
    monkeypatch.setattr(_mfa, "_sleep", clock.sleep, raising=False)
    return clock


class FakeSTS:
    """Every STS client of a session: records calls, resolves its signer first as botocore
    does when signing, and refuses a DurationSeconds over `max_duration` as STS does."""

    def __init__(self, max_duration: int = 43200) -> None:
        self.max_duration = max_duration
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def client(self, signer: Any) -> Any:
        sts = self

        class Client:
            def __getattr__(self, operation: str) -> Any:
                def call(**params: Any) -> dict[str, Any]:
                    if signer is not None:
                        signer.get_frozen_credentials()
                    sts.calls.append((operation, params))
                    if params.get("DurationSeconds", 0) > sts.max_duration:
                        error = {"Error": {"Code": "ValidationError", "Message": TOO_LONG}}
                        raise ClientError(error, operation)
                    return {
                        "Credentials": {
                            "AccessKeyId": f"ASIA{len(sts.calls)}",
                            "SecretAccessKey": "secret",
                            "SessionToken": "token",
                            "Expiration": "2030-01-01T00:00:00Z",
                        },
                        "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/r/x"},
                    }

                return call

        return Client()

    def codes(self) -> list[str]:
        return [params["TokenCode"] for _, params in self.calls]


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> FakeSTS:
    fake = FakeSTS()
    monkeypatch.setattr(Chain, "sts_client", lambda chain, signer, **_: fake.client(signer))
    return fake


def counted(answer: Any) -> tuple[list[str], Any]:
    """A callable returning `answer()` and the list of what it returned."""
    asked: list[str] = []

    def ask() -> str:
        asked.append(answer())
        return asked[-1]

    return asked, ask


# One code for the step-down retry of duration="max" --------------------------------------------


def test_the_shorter_retry_of_duration_max_resends_the_code_sts_never_checked(
    isolated_aws, sts, device_clock
):
    sts.max_duration = 3600
    asked, totp = counted(device_clock.totp)
    hop = AssumeRole(ROLE, session_name="mfa", duration="max", mfa_serial=MFA, mfa_token=totp)
    session = RefreshableSession(hop, source=STATIC, cache=NoCache())
    session.get_credentials().get_frozen_credentials()
    assert [params["DurationSeconds"] for _, params in sts.calls] == [43200, 3600]
    assert sts.codes() == [asked[0], asked[0]]
    assert len(asked) == 1
    assert device_clock.slept == []


def test_a_code_is_given_back_only_when_sts_refused_the_parameters(device_clock):
    sts = FakeSTS(max_duration=3600)
    asked, totp = counted(device_clock.totp)
    hop = GetSessionToken(mfa_serial=MFA, mfa_token=totp)
    with pytest.raises(ClientError, match="MaxSessionDuration"):
        hop.call(sts.client(None), duration=7200)
    hop.call(sts.client(None), duration=3600)
    assert sts.codes() == [asked[0], asked[0]] and len(asked) == 1
    hop.call(sts.client(None), duration=3600)
    assert len(asked) == 3, "a code STS accepted is spent: wait for the next one"
    assert sts.codes()[-1] == asked[-1] != asked[0]


def test_a_code_sts_rejected_is_not_sent_again(device_clock):
    class Rejecting:
        def assume_role(self, **params: Any) -> dict[str, Any]:
            message = "MultiFactorAuthentication failed with invalid MFA one time pass code."
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, "op")

    hop = AssumeRole(ROLE, mfa_serial=MFA, mfa_token=lambda: "123456")
    with pytest.raises(ClientError, match="AccessDenied"):
        hop.call(Rejecting(), duration=None)
    with pytest.raises(MfaCodeError, match="returned the code already sent"):
        hop.call(Rejecting(), duration=None)


def test_a_given_back_code_is_not_resent_after_a_while(device_clock):
    sts = FakeSTS(max_duration=3600)
    asked, totp = counted(device_clock.totp)
    hop = AssumeRole(ROLE, mfa_serial=MFA, mfa_token=totp)
    with pytest.raises(ClientError):
        hop.call(sts.client(None), duration=7200)
    device_clock.now += 31
    hop.call(sts.client(None), duration=3600)
    assert len(asked) == 2
    assert sts.codes() == asked


# Waiting for the next TOTP step -----------------------------------------------------------------


def test_two_sessions_on_one_device_within_a_step_wait_for_the_next_code(
    isolated_aws, sts, device_clock, caplog
):
    caplog.set_level("INFO", logger="refreshsts")
    sessions = [
        RefreshableSession(
            AssumeRole(role, session_name="mfa", mfa_serial=MFA, mfa_token=device_clock.totp),
            source=STATIC,
            cache=NoCache(),
        )
        for role in (ROLE, TARGET)
    ]
    for session in sessions:
        session.get_credentials().get_frozen_credentials()
    first, second = sts.codes()
    assert first != second
    assert device_clock.slept == [20.5], "to the next 30-second boundary, and a little more"
    assert "waiting 20 s for the next code" in caplog.text


def test_a_callable_stuck_on_one_code_fails_after_one_step_at_most(device_clock):
    client = FakeSTS().client(None)
    hop = GetSessionToken(mfa_serial=MFA, mfa_token=lambda: "123456")
    hop.call(client, duration=None)
    device_clock.now += 15
    with pytest.raises(MfaCodeError, match=r"returned the code already sent .* 3 times"):
        hop.call(client, duration=None)
    assert device_clock.slept == [5.5], "one wait, to the next step"


def test_a_code_sent_in_an_earlier_step_is_asked_again_at_once(device_clock):
    sts = FakeSTS()
    answers = iter(["111111", "111111", "222222"])
    hop = GetSessionToken(mfa_serial=MFA, mfa_token=lambda: next(answers))
    hop.call(sts.client(None), duration=None)
    device_clock.now += 900
    hop.call(sts.client(None), duration=None)
    assert sts.codes() == ["111111", "222222"]
    assert device_clock.slept == []


def test_the_same_code_is_never_sent_twice_and_a_stuck_callable_fails_clearly():
    sts = FakeSTS()
    hop = GetSessionToken(mfa_serial=MFA, mfa_token=lambda: "123456")
    hop.call(sts.client(None), duration=None)
    with pytest.raises(MfaCodeError, match=r"returned the code already sent .* 3 times"):
        hop.call(sts.client(None), duration=None)
    assert len(sts.calls) == 1
    answers = iter(["123456", "123456", "654321"])
    hop = GetSessionToken(mfa_serial=MFA, mfa_token=lambda: next(answers))
    hop.call(sts.client(None), duration=None)
    assert sts.codes() == ["123456", "654321"]


def test_codes_are_remembered_per_device_across_hops():
    other = "arn:aws:iam::123456789012:mfa/bob"
    client = FakeSTS().client(None)
    AssumeRole(ROLE, mfa_serial=MFA, mfa_token=lambda: "111111").call(client, duration=None)
    GetSessionToken(mfa_serial=other, mfa_token=lambda: "111111").call(client, duration=None)
    with pytest.raises(MfaCodeError):
        GetSessionToken(mfa_serial=MFA, mfa_token=lambda: "111111").call(client, duration=None)


# Fork safety ------------------------------------------------------------------------------------


def test_a_child_forked_while_a_device_is_asking_can_still_ask():
    entered, release = threading.Event(), threading.Event()

    def slow_prompt() -> str:
        entered.set()
        release.wait(10)
        return "111111"

    asking = threading.Thread(target=next_code, args=(MFA, slow_prompt), kwargs={"label": "t"})
    asking.start()
    try:
        assert entered.wait(5)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                code = 0 if next_code(MFA, lambda: "222222", label="child") == "222222" else 2
            finally:
                os._exit(code)
        assert wait_for_child(pid, 10, "the child hung on the parent's device lock") == 0
    finally:
        release.set()
        asking.join(5)


# Fixed tokens never pickle ----------------------------------------------------------------------


def module_token() -> str:
    return make_jwt("picklable")


def module_assertion() -> str:
    return make_saml(ROLE, IDP, name_id="alice@example.com", session_name="alice")


@pytest.mark.parametrize(
    ("hop", "advice"),
    [
        (
            AssumeRoleWithWebIdentity(ROLE, token=make_jwt("secret-subject")),
            r"pass token_file= .* or token= a callable",
        ),
        (AssumeRoleWithSAML(ROLE, IDP, assertion=module_assertion()), "pass assertion= a callable"),
    ],
)
def test_a_hop_holding_fixed_token_text_refuses_to_pickle(isolated_aws, hop, advice):
    with pytest.raises(TypeError, match=advice):
        pickle.dumps(hop)
    with pytest.raises(TypeError, match=advice):
        pickle.dumps(RefreshableSession(hop, cache=NoCache()))
    hop.cache_fields()
    other = copy.deepcopy(hop)
    assert other == hop and copy.copy(hop) is hop
    assert other.__dict__["_token"]._held is None, "a copy holds no token read for the original"


def test_hops_reading_a_file_or_a_callable_still_pickle(isolated_aws, tmp_path):
    hops = [
        AssumeRoleWithWebIdentity(ROLE, token_file=tmp_path / "token"),
        AssumeRoleWithWebIdentity(ROLE, token=module_token),
        AssumeRoleWithSAML(ROLE, IDP, assertion=module_assertion),
    ]
    for hop in hops:
        assert pickle.loads(pickle.dumps(hop)) == hop
        assert pickle.loads(pickle.dumps(RefreshableSession(hop, cache=NoCache()))).hops == (hop,)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(AssumeRoleWithWebIdentity(ROLE, token=lambda: make_jwt("x")))


# One ask per refresh ----------------------------------------------------------------------------


@pytest.mark.parametrize("federated", ["saml", "web"])
def test_one_refresh_of_a_chain_asks_the_token_callable_once(isolated_aws, sts, federated):
    if federated == "saml":
        asked, assertion = counted(module_assertion)
        first: Any = AssumeRoleWithSAML(ROLE, IDP, assertion=assertion)
    else:
        same_token = module_token()  # a new token is a new key: it would go to STS
        asked, token = counted(lambda: same_token)
        first = AssumeRoleWithWebIdentity(ROLE, token=token, session_name="ci")
    cache = MemoryCache()

    def new_session() -> RefreshableSession:
        return RefreshableSession(first, AssumeRole(TARGET, session_name="reader"), cache=cache)

    new_session().get_credentials().get_frozen_credentials()
    assert len(asked) == 1
    assert [operation for operation, _ in sts.calls][1:] == ["assume_role"]
    sts.calls.clear()
    new_session().get_credentials().get_frozen_credentials()
    assert len(asked) == 2, "a new session asks once for its cache key, even on a warm cache"
    assert sts.calls == []


def test_a_held_token_serves_keys_until_it_is_sent_or_stale(monkeypatch):
    asked, token = counted(module_token)
    hop = AssumeRoleWithWebIdentity(ROLE, token=token)
    assert hop.cache_fields() == hop.cache_fields()
    assert len(asked) == 1
    client = FakeSTS().client(None)
    hop.call(client, duration=None)
    assert len(asked) == 1, "the call sends the token held for the keys"
    hop.cache_fields()
    assert len(asked) == 2, "a token once sent is not held for the next refresh"
    monkeypatch.setattr(_tokens, "HOLD_SECONDS", -1.0)
    hop.cache_fields()
    assert len(asked) == 3, "a held token past HOLD_SECONDS is read again"


def test_the_shorter_retry_of_duration_max_resends_the_assertion():
    sts = FakeSTS(max_duration=3600)
    asked, assertion = counted(module_assertion)
    hop = AssumeRoleWithSAML(ROLE, IDP, assertion=assertion, duration="max")
    with pytest.raises(ClientError, match="MaxSessionDuration"):
        hop.call(sts.client(None), duration=43200)
    hop.call(sts.client(None), duration=3600)
    assert len(asked) == 1
    assert [params["SAMLAssertion"] for _, params in sts.calls] == [asked[0], asked[0]]


# No terminal, no prompt ------------------------------------------------------------------------


class _Terminal:
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def prompts(monkeypatch):
    """getpass.getpass, recorded: each prompt it was asked to show; answers 123456."""
    shown: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        shown.append(prompt)
        return "123456"

    monkeypatch.setattr(_mfa.getpass, "getpass", fake_getpass)
    return shown


def test_without_a_terminal_an_mfa_hop_fails_at_once_and_never_prompts(monkeypatch, prompts):
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115 - closed by the GC
    with pytest.raises(MfaCodeError) as info:
        next_code(MFA, None, label="hop 1 of 1 (AssumeRole x)")
    assert str(info.value) == (
        f"hop 1 of 1 (AssumeRole x) needs an MFA code for {MFA} and there is no terminal to ask "
        "on: pass mfa_token=... (a callable returning the code the device shows now)"
    )
    assert prompts == []


def test_a_refresh_worker_thread_never_prompts_even_with_a_terminal(monkeypatch, prompts):
    monkeypatch.setattr("sys.stdin", _Terminal())
    failures: list[BaseException] = []

    def refresh() -> None:
        try:
            next_code(MFA, None, label="AssumeRole x")
        except MfaCodeError as exc:
            failures.append(exc)

    worker = threading.Thread(target=refresh)
    worker.start()
    worker.join(5)
    [failure] = failures
    assert "no terminal to ask on (refreshing on a worker thread): pass mfa_token=" in str(failure)
    assert prompts == []
    assert next_code(MFA, None, label="AssumeRole x") == "123456", "the main thread may ask"
    assert prompts == [f"Enter MFA code for {MFA}: "]


def test_a_session_refreshing_without_a_terminal_raises_a_refresh_error_naming_the_hop(
    isolated_aws, monkeypatch, prompts
):
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115 - closed by the GC
    session = RefreshableSession(AssumeRole(ROLE, mfa_serial=MFA), source=STATIC, cache=NoCache())
    with pytest.raises(RefreshError) as info:
        session.get_credentials().get_frozen_credentials()
    assert str(info.value).startswith("could not refresh hop 1 of 1 (AssumeRole ")
    assert "needs an MFA code" in str(info.value) and "no terminal" in str(info.value)
    assert info.value.hop == 1
    assert prompts == []
