"""AccountRoles against the moto server: an organization of 13 accounts scanned through a hub."""

from __future__ import annotations

import pickle
import time
from itertools import chain
from typing import Any

import pytest
from account_workers import scan

from fixtures.moto_server import REGION, Organization
from fixtures.spawned import run_together
from fixtures.sts_proxy import StsProxy
from refreshsts import (
    AccountRoles,
    AssumeRole,
    ConfigurationError,
    MemoryCache,
    RedisCache,
    RefreshableSession,
    RefreshError,
    generate_key,
)

PROFILE = "ststestprofile"
DENIED = "User is not authorized to perform: sts:AssumeRole"


def caller_arn(session: RefreshableSession, account: str) -> str:
    return str(session.client("sts").get_caller_identity()["Arn"])


def scanner(organization: Organization, **options: Any) -> AccountRoles:
    options.setdefault("cache", MemoryCache())
    return AccountRoles(
        organization.role_arn_template,
        AssumeRole(organization.hub_role_arn, session_name=organization.hub_session_name),
        source=PROFILE,
        session_name="scan",
        region=REGION,
        **options,
    )


def assume_role_arns(proxy: StsProxy) -> list[str]:
    return [record.params["RoleArn"] for record in proxy.records("AssumeRole")]


def test_every_account_answers_as_its_own_role_through_one_hub_session(
    organization: Organization, organization_env: Any, organization_proxy: StsProxy
) -> None:
    roles = scanner(organization)
    results = dict(roles.map(caller_arn))
    accounts = organization.account_ids
    assert len(accounts) == 13
    assert results == {a: f"arn:aws:sts::{a}:assumed-role/audit/scan" for a in accounts}
    # one hub AssumeRole for all 13 accounts, each account's signed with the hub's key
    arns = assume_role_arns(organization_proxy)
    assert arns.count(organization.hub_role_arn) == 1
    assert sorted(arns) == sorted(
        [organization.hub_role_arn, *map(organization.role_arn, accounts)]
    )
    hub_key = roles.hub.get_credentials().get_frozen_credentials().access_key  # type: ignore[union-attr]
    signers = [
        r.access_key_id
        for r in organization_proxy.records("AssumeRole")
        if r.params["RoleArn"] != organization.hub_role_arn
    ]
    assert set(signers) == {hub_key}
    assert [r.access_key_id for r in organization_proxy.records("ListAccounts")] == [hub_key]
    assert organization_proxy.calls("AssumeRole") == 1 + len(accounts)
    assert organization_proxy.calls("GetCallerIdentity") == len(
        accounts
    )  # fn's own calls, no others

    organization_proxy.clear()
    again = dict(roles.map(caller_arn, accounts))
    assert again == results
    assert organization_proxy.calls("AssumeRole") == 0


def test_evicted_sessions_are_rebuilt_from_the_cache_without_sts(
    organization: Organization, organization_env: Any, organization_proxy: StsProxy
) -> None:
    roles = scanner(organization, max_sessions=3)
    accounts = organization.account_ids
    first = dict(roles.map(caller_arn, accounts, max_workers=2))
    assert len(roles) == 3
    assert organization_proxy.calls("AssumeRole") == 1 + len(accounts)
    organization_proxy.clear()
    assert dict(roles.map(caller_arn, accounts, max_workers=2)) == first
    assert organization_proxy.calls("AssumeRole") == 0


def test_one_refusing_account_and_throttling_leave_the_others_alone(
    organization: Organization, organization_env: Any, organization_proxy: StsProxy
) -> None:
    accounts = organization.account_ids
    refusing = accounts[5]
    organization_proxy.fail_all(
        ("error", "AccessDenied", DENIED, 403),
        params={"RoleArn": organization.role_arn(refusing)},
    )
    roles = scanner(organization)
    roles.throttle_delay = (0.05, 0.2)
    roles.hub.get_credentials().get_frozen_credentials()  # type: ignore[union-attr]
    # four throttles in a row: more than botocore's own attempts absorb, so map must try again
    organization_proxy.inject(*["throttle"] * 4)
    results = dict(roles.map(caller_arn, accounts, max_workers=1))
    error = results.pop(refusing)
    assert isinstance(error, RefreshError)
    assert refusing in str(error) and "AccessDenied" in str(error)
    assert results == {
        a: f"arn:aws:sts::{a}:assumed-role/audit/scan" for a in accounts if a != refusing
    }
    first = [
        r.fault
        for r in organization_proxy.records("AssumeRole")
        if r.params["RoleArn"] == organization.role_arn(accounts[0])
    ]
    assert first == ["throttle"] * 4 + [None]
    refused = [
        r
        for r in organization_proxy.records("AssumeRole")
        if r.params["RoleArn"] == organization.role_arn(refusing)
    ]
    assert len(refused) == 1  # a refusal is not retried
    assert roles.session(accounts[1]).client("sts").get_caller_identity()["Account"] == accounts[1]


def test_a_duration_over_an_hour_is_the_hubs_and_every_account_role_asks_for_one_hour(
    organization: Organization, organization_env: Any, organization_proxy: StsProxy
) -> None:
    accounts = organization.account_ids[:3]
    roles = scanner(organization, duration="2h")
    assert dict(roles.map(caller_arn, accounts)) == {
        a: f"arn:aws:sts::{a}:assumed-role/audit/scan" for a in accounts
    }
    asked = {
        r.params["RoleArn"]: r.params["DurationSeconds"]
        for r in organization_proxy.records("AssumeRole")
    }
    assert asked == {
        organization.hub_role_arn: "7200",
        **{organization.role_arn(a): "3600" for a in accounts},
    }


def test_bad_account_ids_are_refused_before_any_call(
    organization: Organization, organization_env: Any, organization_proxy: StsProxy
) -> None:
    roles = scanner(organization)
    for bad in (["12345678901"], ["1234567890123"], ["12345678901a"], [123456789012], "1" * 12):
        with pytest.raises(ConfigurationError, match="account"):
            roles.map(caller_arn, bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="12 digits"):
        roles.session("0000")
    with pytest.raises(ConfigurationError, match=r"\{account\}"):
        AccountRoles("arn:aws:iam::123456789012:role/audit", source=PROFILE)
    assert organization_proxy.requests == []


def _within(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_max_sts_rate_holds_for_the_hub_and_every_account(
    organization: Organization, organization_env: Any, organization_proxy: StsProxy
) -> None:
    rate = 5.0
    roles = scanner(organization, max_sts_rate=rate)
    started = time.monotonic()
    results = dict(roles.map(caller_arn, max_workers=8))
    elapsed = time.monotonic() - started
    assert all(isinstance(arn, str) for arn in results.values())
    times = [r.time for r in organization_proxy.records("AssumeRole")]
    assert len(times) == 14
    assert elapsed >= 13 / rate * 0.95
    assert max(times) - min(times) >= 13 / rate * 0.9
    assert _within(times, 1.0) <= 1 + rate + 1  # one for jitter at the proxy


@pytest.mark.slow
def test_a_redis_cache_shares_the_rate_across_processes(
    organization: Organization,
    organization_env: Any,
    organization_proxy: StsProxy,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two spawned processes stand in for two hosts: together they keep to one rate."""
    rate = 4.0
    key = generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)  # keys never travel in a pickle
    cache = RedisCache(redis_url, key=key)
    data = pickle.dumps(scanner(organization, cache=cache, max_sts_rate=rate))
    halves = (organization.account_ids[:6], organization.account_ids[6:12])
    reports = run_together(scan, [(data, half) for half in halves], timeout=60)
    found = {account: arn for _, _, part in reports for account, arn in part.items()}
    assert found == {a: f"arn:aws:sts::{a}:assumed-role/audit/scan" for a in chain(*halves)}
    assert max(start for start, _, _ in reports) < min(end for _, end, _ in reports)  # overlap
    times = [r.time for r in organization_proxy.records("AssumeRole")]
    assert len(times) in (13, 14)  # the hub once, unless both hosts fetched it at once
    assert max(times) - min(times) >= (len(times) - 1) / rate * 0.9
    assert _within(times, 1.0) <= 1 + rate + 1
