"""refreshsts.tokens.gcp_metadata against a loopback GCE metadata server."""

from __future__ import annotations

import pickle

import pytest

from fixtures.token_endpoints import GcpMetadata, assert_no_secret, claims_of
from refreshsts import ConfigurationError, RefreshError, tokens
from refreshsts.tokens import _http

AUDIENCE = "sts.amazonaws.com"


def test_asks_the_identity_endpoint_as_google_wants(gcp_metadata_server: GcpMetadata) -> None:
    provider = tokens.gcp_metadata(AUDIENCE)
    first, second = provider(), provider()
    assert first != second, "a new token per call"
    assert gcp_metadata_server.issued == [first, second]
    request = gcp_metadata_server.requests[0]
    assert request.path == GcpMetadata.PATH
    assert request.headers["metadata-flavor"] == "Google"
    assert request.query == {"audience": AUDIENCE, "format": "full"}
    claims = claims_of(first)
    assert claims["aud"] == AUDIENCE
    assert claims["google"]["compute_engine"]["project_id"] == "my-project"


def test_the_old_gce_metadata_root_variable_is_honoured(
    gcp_metadata_server: GcpMetadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GCE_METADATA_HOST")
    monkeypatch.setenv("GCE_METADATA_ROOT", gcp_metadata_server.host)
    assert tokens.gcp_metadata(AUDIENCE)() == gcp_metadata_server.issued[0]


def test_a_server_answering_without_metadata_flavor_google_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with GcpMetadata(google=False) as impostor:
        monkeypatch.setenv("GCE_METADATA_HOST", impostor.host)
        with pytest.raises(RefreshError, match="not a Google metadata server") as info:
            tokens.gcp_metadata(AUDIENCE)()
    assert len(impostor.issued) == 1, "it answered a token, which was refused"
    assert_no_secret(str(info.value))


def test_the_emulator_refuses_a_request_without_the_flavor_header_like_google(
    gcp_metadata_server: GcpMetadata,
) -> None:
    with pytest.raises(RefreshError, match=r"HTTP 403: .*Metadata-Flavor:Google"):
        _http.get(
            f"http://{gcp_metadata_server.host}{GcpMetadata.PATH}?audience=a",
            {},
            what="test",
            timeout=2,
            attempts=1,
        )


@pytest.mark.parametrize(
    ("audience", "env", "message"),
    [
        ("", None, "audience='' must be 1-1000"),
        (None, None, "audience must be text, not NoneType"),
        (AUDIENCE, "http://169.254.169.254", r"GCE_METADATA_HOST='http://169.254.169.254' is not"),
        (AUDIENCE, "host:port", "is not host"),
    ],
)
def test_bad_input_is_refused_when_made(
    monkeypatch: pytest.MonkeyPatch, audience: object, env: str | None, message: str
) -> None:
    if env is not None:
        monkeypatch.setenv("GCE_METADATA_HOST", env)
    with pytest.raises(ConfigurationError, match=message):
        tokens.gcp_metadata(audience)  # type: ignore[arg-type]


def test_errors_name_the_status_and_the_servers_text(gcp_metadata_server: GcpMetadata) -> None:
    gcp_metadata_server.fail_next(503, (404, "no such service account"))
    with pytest.raises(RefreshError) as info:
        tokens.gcp_metadata(AUDIENCE, attempts=3)()
    assert str(info.value) == (
        f"Google metadata server: GET http://{gcp_metadata_server.host}{GcpMetadata.PATH} "
        "answered HTTP 404: no such service account"
    )
    assert len(gcp_metadata_server.requests) == 2, "503 retried, 404 not"


def test_it_pickles_by_value(gcp_metadata_server: GcpMetadata) -> None:
    provider = tokens.gcp_metadata(AUDIENCE, timeout=1, attempts=1)
    assert pickle.loads(pickle.dumps(provider)) == provider
    assert (
        repr(provider) == "GcpMetadataToken(audience='sts.amazonaws.com', timeout=1.0, attempts=1)"
    )
