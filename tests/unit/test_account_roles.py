"""AccountRoles in-process: what it refuses, what it shares, and its rate bucket."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fixtures.fakes import fork_child, held_by_another_thread, wait_for_child
from refreshsts import (
    AccountRoles,
    AssumeRole,
    BackgroundRefresh,
    ConfigurationError,
    GetSessionToken,
    MemoryCache,
    RefreshError,
)
from refreshsts._internal.rate import TokenBucket
from refreshsts.account_roles import _throttled, check_account

TEMPLATE = "arn:aws:iam::{account}:role/audit"
HUB = "arn:aws:iam::111111111111:role/hub"
A, B, C = "222222222222", "333333333333", "444444444444"


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Static keys from the environment and nowhere to send a request: nothing here calls."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def roles(**options: Any) -> AccountRoles:
    options.setdefault("region", "us-east-1")
    return AccountRoles(TEMPLATE, AssumeRole(HUB, session_name="hub"), **options)


@pytest.mark.parametrize(
    "template",
    [
        "arn:aws:iam::123456789012:role/audit",
        "arn:aws:iam::{account}:user/audit",
        "arn:aws:iam::{account}",
        "arn:aws:iam::123456789012:role/{account}",
        "arn:aws:iam::{account}:role/{other}",
        42,
    ],
)
def test_a_template_without_account_in_its_account_field_is_refused(template: Any) -> None:
    with pytest.raises(ConfigurationError, match="role_arn_template="):
        AccountRoles(template)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_sessions": 0}, "max_sessions=0 must be 1-1,000,000"),
        ({"max_sessions": True}, "max_sessions=True must be an int"),
        ({"max_sts_rate": 0}, r"max_sts_rate=0 must be STS requests per second in \(0, 10000\]"),
        ({"max_sts_rate": "5"}, "max_sts_rate='5'"),
        ({"session_name": "x"}, "session_name='x' is invalid"),
        ({"refresh": "background"}, "refresh=str is not"),
        ({"region": "mars"}, "region='mars' is not an AWS region"),
    ],
)
def test_bad_options_are_refused_when_built(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        roles(**options)


@pytest.mark.parametrize(
    ("account", "message"),
    [
        (123456789012, "is an int: pass the 12-digit account ID as a string"),
        ("12345678901", "is not an AWS account ID"),
        ("１２３４５６７８９０１２", "is not an AWS account ID"),  # noqa: RUF001 - fullwidth digits
        (None, "is not an AWS account ID"),
    ],
)
def test_account_ids_are_twelve_ascii_digits(account: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_account(account)
    with pytest.raises(ConfigurationError, match=message):
        roles().session(account)


def test_map_refuses_before_starting_anything() -> None:
    scanner = roles()
    with pytest.raises(ConfigurationError, match="is not callable"):
        scanner.map("fn", [A])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_workers=0 must be 1-256"):
        scanner.map(lambda s, a: a, [A], max_workers=0)
    with pytest.raises(ConfigurationError, match="one string"):
        scanner.map(lambda s, a: a, A)
    with pytest.raises(ConfigurationError, match="'bad'"):
        scanner.map(lambda s, a: a, [A, "bad"])
    assert len(scanner) == 0


def test_sessions_are_kept_in_a_bounded_lru_and_rebuilt_on_demand() -> None:
    scanner = roles(max_sessions=2, refresh=BackgroundRefresh())
    first = scanner.session(A)
    assert scanner.session(A) is first
    scanner.session(B)
    scanner.session(C)
    assert len(scanner) == 2
    assert all(creds._closed for creds in first.hop_credentials)  # no refresh ahead once evicted
    again = scanner.session(A)
    assert again is not first
    assert again.hops[0].role_arn == f"arn:aws:iam::{A}:role/audit"
    scanner.close()


def test_every_account_signs_through_one_sts_client_on_the_hub_credentials() -> None:
    scanner = roles()
    links = [scanner.session(account)._chain.links[0] for account in (A, B, C)]
    assert links[0].sts_client is links[1].sts_client is links[2].sts_client
    hub = scanner.hub
    assert hub is not None
    assert links[0].sts_client._request_signer._credentials is hub.get_credentials()
    assert scanner.session(A).hop_credentials[0].hop == 1


def test_it_travels_in_a_pickle_as_its_recipe_external_id_included_keys_never() -> None:
    """The external id is part of the recipe (the other side must send it); repr hides it."""
    scanner = roles(external_id="very-secret-external-id", cache=MemoryCache(), max_sessions=7)
    scanner.session(A).get_credentials()
    data = pickle.dumps(scanner)
    assert b"very-secret-external-id" in data
    assert b"AKIAEXAMPLEEXAMPLE01" not in data and b"not-a-real-secret" not in data
    copied = pickle.loads(data)
    assert copied.role_arn(B) == f"arn:aws:iam::{B}:role/audit"
    assert copied.session(A).hops[0].external_id == "very-secret-external-id"
    assert copied.hub.hops == scanner.hub.hops  # type: ignore[union-attr]
    assert "very-secret" not in repr(copied) and "sessions=1/7" in repr(copied)
    assert "very-secret" not in repr(copied.session(A))


@pytest.mark.parametrize(
    "hub", [AssumeRole(HUB, session_name="hub"), GetSessionToken()], ids=lambda hop: hop.operation
)
def test_a_duration_past_the_chaining_cap_is_the_hubs_and_the_accounts_ask_for_1h(
    hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="refreshsts")
    scanner = AccountRoles(TEMPLATE, hub, duration="2h", region="us-east-1")
    assert [link._duration for link in scanner.hub._chain.links] == [7200]  # type: ignore[union-attr]
    account = scanner.session(A)._chain.links[0]
    assert account.chained and account._duration == 3600
    assert account.hop.request(duration=account._duration)["DurationSeconds"] == 3600
    assert "the account roles after them are role chaining, which AWS caps at 1h" in caplog.text


@pytest.mark.parametrize("duration", ["30m", "1h"])
def test_a_duration_within_the_chaining_cap_is_every_hops(duration: str) -> None:
    scanner = roles(duration=duration)
    planned = scanner.hub._chain.links[0]._duration  # type: ignore[union-attr]
    assert scanner.session(A)._chain.links[0]._duration == planned


def test_a_duration_no_hop_takes_is_refused_naming_the_hop_never_a_made_up_account() -> None:
    with pytest.raises(
        ConfigurationError, match=r"hop 1 of 1 \(AssumeRole arn:aws:iam::1111"
    ) as hub:
        roles(duration="13h")
    with pytest.raises(
        ConfigurationError,
        match=r"the account role, AssumeRole arn:aws:iam::\{account\}:role/audit",
    ) as alone:
        AccountRoles(TEMPLATE, duration="13h", region="us-east-1")
    for error in (hub, alone):
        assert "allowed 900-43200 s" in str(error.value)
        assert "000000000000" not in str(error.value)


def test_session_token_keys_at_the_root_make_the_account_roles_role_chaining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFAKE000000000003")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "fake-session-token")
    with pytest.raises(ConfigurationError, match=r"session token.*allowed 900-3600 s"):
        AccountRoles(TEMPLATE, duration="12h", region="us-east-1")
    scanner = AccountRoles(TEMPLATE, duration="max", region="us-east-1")
    link = scanner.session(A)._chain.links[0]
    assert link.chained and link._duration == 3600


def test_first_fetches_and_ordinary_refreshes_share_two_clients_across_all_accounts() -> None:
    scanner = roles()
    links = [scanner.session(account)._chain.links[0] for account in (A, B, C)]
    waiting = [link.waiting_sts_client for link in links]  # asked first, as in a first fetch
    ordinary = [link.sts_client for link in links]
    assert len({id(client) for client in waiting + ordinary}) == 2
    assert waiting[0] is waiting[1] is waiting[2] and ordinary[0] is ordinary[1] is ordinary[2]
    assert waiting[0].meta.config.read_timeout == 5
    assert ordinary[0].meta.config.read_timeout == 10


def test_an_ordinary_refresh_calls_through_the_client_with_the_normal_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[tuple[str, int]] = []
    call = AssumeRole.call

    def recording(hop: AssumeRole, client: Any, *, duration: int | None) -> Any:
        sent.append((hop.role_arn, client.meta.config.read_timeout))
        return call(hop, client, duration=duration)

    monkeypatch.setattr(AssumeRole, "call", recording)
    with mock_aws():
        scanner = roles(cache=MemoryCache())
        for account in (A, B):
            creds = scanner.session(account).get_credentials()
            creds.get_frozen_credentials()
            creds.refresh()
    role = TEMPLATE.format
    assert [arn_timeout for arn_timeout in sent if arn_timeout[0] != HUB] == [
        (role(account=A), 5),  # a first fetch: a caller waits with nothing in hand
        (role(account=A), 10),  # an ordinary refresh
        (role(account=B), 5),
        (role(account=B), 10),
    ]
    assert len(scanner._clients) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_makes_both_shared_clients_anew() -> None:
    scanner = roles()
    link = scanner.session(A)._chain.links[0]
    parents = (link.waiting_sts_client, link.sts_client)

    def fresh_clients() -> None:
        assert scanner._clients == {}
        assert scanner._client_lock.acquire(timeout=1)
        scanner._client_lock.release()
        child = scanner.session(B)._chain.links[0]
        mine = (child.waiting_sts_client, child.sts_client)
        assert mine[0] is not mine[1]
        assert not {id(client) for client in mine} & {id(client) for client in parents}
        assert link.sts_client is mine[1]

    with held_by_another_thread(scanner._client_lock):
        pid = fork_child(fresh_clients)
    assert wait_for_child(pid, 30, "the child hung") == 0


def _client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "AssumeRole")


@pytest.mark.parametrize(
    ("error", "throttled"),
    [
        (_client_error("Throttling", "Rate exceeded"), True),
        (_client_error("RequestLimitExceeded"), True),
        (_client_error("Unknown", "Rate exceeded"), True),
        (_client_error("AccessDenied", "not authorized"), False),
        (ValueError("Throttling"), False),
    ],
)
def test_throttling_is_told_apart_from_refusals(error: Exception, throttled: bool) -> None:
    wrapped = RefreshError("could not refresh", hop=1)
    wrapped.__cause__ = error
    assert _throttled(wrapped) is throttled


def test_the_token_bucket_spaces_requests_one_interval_apart() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(4.0, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert slept == [0.25, 0.5, 0.75, 1.0]
    now[0] += 10.0  # an idle bucket saves no burst beyond one request
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.25]


def test_without_a_hub_every_account_role_is_assumed_with_the_source_keys() -> None:
    scanner = AccountRoles(TEMPLATE, region="us-east-1")
    assert scanner.hub is None
    first, second = (scanner.session(account)._chain.links[0] for account in (A, B))
    assert first.sts_client is second.sts_client
    signer = first.sts_client._request_signer._credentials.get_frozen_credentials()
    assert signer.access_key == "AKIAEXAMPLEEXAMPLE01"


def test_an_account_session_does_not_travel_alone_in_a_pickle() -> None:
    with pytest.raises(TypeError, match="pickle the AccountRoles"):
        pickle.dumps(roles().session(A))


def test_organization_accounts_lists_the_active_ones() -> None:
    with mock_aws():
        organizations = boto3.client("organizations", region_name="us-east-1")
        organizations.create_organization(FeatureSet="ALL")
        created = [
            organizations.create_account(Email=f"m{i}@example.com", AccountName=f"m{i}")[
                "CreateAccountStatus"
            ]["AccountId"]
            for i in range(3)
        ]
        listed = AccountRoles(TEMPLATE, region="us-east-1").organization_accounts()
    assert set(created) < set(listed) and len(listed) == 4
    assert all(check_account(account) == account for account in listed)
