"""refreshsts.tokens.github_actions against a loopback GitHub OIDC token service."""

from __future__ import annotations

import pickle

import pytest

from fixtures.token_endpoints import GitHubOidc, assert_no_secret, claims_of
from refreshsts import AssumeRoleWithWebIdentity, ConfigurationError, RefreshError, tokens

ROLE = "arn:aws:iam::123456789012:role/ci-deploy"


def test_asks_with_the_bearer_request_token_and_the_sts_audience(github_oidc: GitHubOidc) -> None:
    provider = tokens.github_actions()
    first, second = provider(), provider()
    assert first != second, "a new token per call"
    assert github_oidc.issued == [first, second]
    request = github_oidc.requests[0]
    assert request.headers["authorization"] == f"bearer {github_oidc.request_token}"
    assert request.query == {"api-version": "2.0", "audience": "sts.amazonaws.com"}
    assert claims_of(first)["aud"] == "sts.amazonaws.com"


def test_an_audience_is_url_encoded_after_the_urls_own_query(github_oidc: GitHubOidc) -> None:
    audience = "api://aws federation/ci?x=1&y=2"
    token = tokens.github_actions(audience)()
    assert github_oidc.requests[0].query == {"api-version": "2.0", "audience": audience}
    assert claims_of(token)["aud"] == audience


@pytest.mark.parametrize(
    "unset", ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
)
def test_outside_a_job_allowed_to_ask_it_fails_when_made(
    github_oidc: GitHubOidc, monkeypatch: pytest.MonkeyPatch, unset: str
) -> None:
    monkeypatch.delenv(unset)
    with pytest.raises(ConfigurationError, match=f"{unset} unset.*id-token: write"):
        tokens.github_actions()
    assert github_oidc.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audience": ""}, "audience='' must be 1-1000 printable"),
        ({"audience": "a" * 1001}, "must be 1-1000 printable"),
        ({"audience": " sts"}, "without leading or trailing spaces"),
        ({"audience": 7}, "audience must be text, not int"),
        ({"timeout": 0}, r"timeout=0 must be a number of seconds in \(0, 60\]"),
        ({"attempts": 11}, "attempts=11 must be 1-10"),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(
    github_oidc: GitHubOidc, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tokens.github_actions(**kwargs)  # type: ignore[arg-type]


def test_a_refused_request_token_is_a_refresh_error_without_secrets(
    github_oidc: GitHubOidc, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = tokens.github_actions()
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "stale-" + github_oidc.request_token)
    with pytest.raises(RefreshError) as info:
        provider()
    text = str(info.value)
    assert f"GET {github_oidc.url}{GitHubOidc.PATH} answered HTTP 401" in text
    assert "Bad credentials" in text
    assert "api-version" not in text, "the query string stays out of messages"
    assert len(github_oidc.requests) == 1, "a refusal is not retried"
    assert_no_secret(text, github_oidc.request_token)


def test_the_servers_error_text_is_trimmed_and_never_echoes_the_request_token(
    github_oidc: GitHubOidc,
) -> None:
    github_oidc.fail_next((400, f"bad header: bearer {github_oidc.request_token} " + "x" * 900))
    with pytest.raises(RefreshError) as info:
        tokens.github_actions()()
    text = str(info.value)
    assert "bad header: bearer [redacted]" in text
    assert len(text) < 500
    assert_no_secret(text, github_oidc.request_token)


def test_busy_answers_are_retried_then_reported(github_oidc: GitHubOidc) -> None:
    github_oidc.fail_next(503, 429)
    assert tokens.github_actions(attempts=3)() == github_oidc.issued[0]
    github_oidc.fail_next(500, 502, 503)
    with pytest.raises(RefreshError, match=r"answered HTTP 503: try again later \(after 3 "):
        tokens.github_actions(attempts=3)()
    assert len(github_oidc.requests) == 6


def test_an_answer_without_a_value_is_refused_without_quoting_it(github_oidc: GitHubOidc) -> None:
    github_oidc.fail_next((200, '{"val": "eyJsecret.part.here"}'))
    with pytest.raises(RefreshError, match="without a token: a JSON object with a 'value'") as info:
        tokens.github_actions()()
    assert_no_secret(str(info.value))


def test_it_holds_no_secret_so_it_prints_and_pickles_and_so_does_its_hop(
    github_oidc: GitHubOidc,
) -> None:
    provider = tokens.github_actions("sts.amazonaws.com", timeout=5)
    assert github_oidc.request_token not in repr(provider)
    data = pickle.dumps(AssumeRoleWithWebIdentity(ROLE, token=provider))
    assert github_oidc.request_token.encode() not in data
    hop = pickle.loads(data)
    assert hop.token == provider
    assert hop.read_token() == github_oidc.issued[-1]
