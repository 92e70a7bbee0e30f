"""Each token provider feeding AssumeRoleWithWebIdentity against the moto server.

AssumeRoleWithWebIdentity is unsigned, so moto's auth is off around it (it answers such
calls with a 500 when on, see testing-with-moto.md); the STS proxy plays STS's signature
check with `sign_tokens`: it accepts exactly the tokens an emulator issued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import time_machine

from fixtures.sts_proxy import StsProxy
from fixtures.token_endpoints import TokenEndpoint, assert_no_secret, claims_of, make_jwt
from refreshsts import AssumeRoleWithWebIdentity, NoCache, RefreshableSession, RefreshError, tokens

LIFETIME = 900

PROVIDERS: dict[str, Callable[[], Callable[[], str]]] = {
    "github_oidc": tokens.github_actions,
    "gcp_metadata_server": lambda: tokens.gcp_metadata("sts.amazonaws.com"),
    "azure_imds": lambda: tokens.azure_managed_identity("api://aws-federation"),
    "app_service": lambda: tokens.azure_managed_identity("api://aws-federation"),
}


@contextmanager
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(time.time(), tick=True) as traveller:
        yield traveller


def keys(session: RefreshableSession) -> str:
    return str(session.get_credentials().get_frozen_credentials().access_key)


@pytest.mark.parametrize("endpoint", list(PROVIDERS))
def test_every_sts_call_presents_a_token_fetched_for_it(
    moto_server, world, proxied_aws_env, sts_proxy: StsProxy, endpoint: str, request
) -> None:
    emulator: TokenEndpoint = request.getfixturevalue(endpoint)
    emulator.on_issue.append(sts_proxy.sign_tokens)
    sts_proxy.expiration_seconds = LIFETIME
    hop = AssumeRoleWithWebIdentity(world.role_arn, token=PROVIDERS[endpoint](), session_name="wl")
    session = RefreshableSession(hop, cache=NoCache(), region="us-west-2")
    with moto_server.admin(), clock() as traveller:
        seen = [keys(session)]
        for _ in range(2):
            traveller.shift(LIFETIME)
            seen.append(keys(session))
        arn = session.client("sts").get_caller_identity()["Arn"]
        forged = RefreshableSession(
            AssumeRoleWithWebIdentity(
                world.role_arn, token=make_jwt(claims_of(emulator.issued[0]))
            ),
            cache=NoCache(),
        )
        with pytest.raises(RefreshError, match="InvalidIdentityToken"):
            keys(forged)
    sent = [r.params["WebIdentityToken"] for r in sts_proxy.records("AssumeRoleWithWebIdentity")]
    assert sent[:3] == emulator.issued, "one new token per STS call, each sent once"
    assert len(set(seen)) == 3
    assert arn.endswith(f":assumed-role/{world.role_name}/wl")


def test_a_failing_token_service_is_a_refresh_error_naming_the_hop_and_no_secret(
    github_oidc, monkeypatch: pytest.MonkeyPatch, sts_proxy: StsProxy
) -> None:
    role = "arn:aws:iam::123456789012:role/ci-deploy"
    hop = AssumeRoleWithWebIdentity(role, token=tokens.github_actions(attempts=1))
    monkeypatch.setenv("AWS_ENDPOINT_URL", sts_proxy.url)
    github_oidc.fail_next((403, f"no id-token permission for {github_oidc.request_token}"))
    session = RefreshableSession(hop, cache=NoCache(), region="us-west-2")
    with pytest.raises(RefreshError) as info:
        keys(session)
    text = str(info.value)
    assert info.value.hop == 1
    assert "hop 1 of 1 (AssumeRoleWithWebIdentity" in text
    assert "GitHub Actions OIDC token service: GET" in text
    assert "answered HTTP 403: no id-token permission for [redacted]" in text
    assert sts_proxy.calls() == 0, "no token, no STS call"
    assert_no_secret(text, github_oidc.request_token)
