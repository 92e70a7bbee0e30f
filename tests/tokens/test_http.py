"""The one GET every token provider makes: timeouts, no redirects, no secret in errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from fixtures.drip import dripping_server
from fixtures.token_endpoints import GitHubOidc
from refreshsts import RefreshError, tokens
from refreshsts.tokens import _http


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_server_that_never_answers_costs_the_timeout_per_attempt(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(RefreshError, match=r"failed: .*timed out \(after 2 attempts of at most"):
        _http.get(f"http://127.0.0.1:{silent_port}/t", {}, what="x", timeout=0.3, attempts=2)
    assert time.monotonic() - started < 2.5


def test_a_redirect_is_not_followed_so_the_bearer_token_stays_home(
    github_oidc: GitHubOidc,
) -> None:
    with GitHubOidc() as elsewhere:
        github_oidc.fail_next((302, "moved", {"Location": elsewhere.request_url}))
        with pytest.raises(RefreshError, match=r"answered HTTP 302: moved \(redirects are not"):
            tokens.github_actions()()
    assert elsewhere.requests == []


def test_only_http_urls_are_asked(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", (tmp_path / "token").as_uri())
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t")
    with pytest.raises(RefreshError, match="is not an http"):
        tokens.github_actions()()


def test_a_server_dripping_its_body_is_given_up_on_within_twice_the_timeout() -> None:
    head = b"HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\nContent-Length: 1000000\r\n\r\n"
    with dripping_server(head) as port:
        started = time.monotonic()
        with pytest.raises(RefreshError, match="did not arrive in time"):
            _http.get(f"http://127.0.0.1:{port}/t", {}, what="x", timeout=0.5, attempts=1)
    assert time.monotonic() - started < 2.5
