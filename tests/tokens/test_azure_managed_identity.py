"""refreshsts.tokens.azure_managed_identity against loopback IMDS and App Service endpoints."""

from __future__ import annotations

import pickle

import pytest

from fixtures.token_endpoints import AppServiceIdentity, AzureImds, assert_no_secret, claims_of
from refreshsts import ConfigurationError, RefreshError, tokens

RESOURCE = "api://aws-federation"
USER_ASSIGNED = "0c1d2e3f-2222-4b4b-8d8d-000000000002"


def test_imds_is_asked_with_the_metadata_header_its_api_version_and_the_resource(
    azure_imds: AzureImds,
) -> None:
    provider = tokens.azure_managed_identity(RESOURCE)
    first, second = provider(), provider()
    assert first != second, "a new token per call"
    assert azure_imds.issued == [first, second]
    request = azure_imds.requests[0]
    assert request.path == AzureImds.PATH
    assert request.headers["metadata"] == "true"
    assert request.query == {"api-version": "2018-02-01", "resource": RESOURCE}
    assert claims_of(first)["aud"] == RESOURCE


def test_a_user_assigned_identity_is_named_by_client_id(azure_imds: AzureImds) -> None:
    token = tokens.azure_managed_identity(f"{RESOURCE}/.default", client_id=USER_ASSIGNED)()
    assert azure_imds.requests[0].query == {
        "api-version": "2018-02-01",
        "resource": RESOURCE,
        "client_id": USER_ASSIGNED,
    }
    assert claims_of(token)["appid"] == USER_ASSIGNED


def test_an_identity_not_assigned_is_a_clear_error_not_retried(azure_imds: AzureImds) -> None:
    with pytest.raises(RefreshError, match=r"Azure IMDS: GET .* answered HTTP 400: .*Identity not"):
        tokens.azure_managed_identity(RESOURCE, client_id="not-assigned")()
    assert len(azure_imds.requests) == 1


def test_imds_404_and_410_while_an_identity_is_assigned_are_retried(azure_imds: AzureImds) -> None:
    azure_imds.fail_next(404, 410)
    assert tokens.azure_managed_identity(RESOURCE, attempts=3)() == azure_imds.issued[0]
    assert len(azure_imds.requests) == 3


def test_metadata_endpoints_are_never_reached_through_a_proxy(
    azure_imds: AzureImds, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert tokens.azure_managed_identity(RESOURCE, attempts=1)() == azure_imds.issued[0]
    assert "x-forwarded-for" not in azure_imds.requests[0].headers


def test_app_service_is_asked_with_its_identity_header_and_api_version(
    app_service: AppServiceIdentity, azure_imds: AzureImds
) -> None:
    token = tokens.azure_managed_identity(RESOURCE, client_id=USER_ASSIGNED)()
    assert app_service.issued == [token]
    assert azure_imds.requests == [], "App Service's endpoint comes first"
    request = app_service.requests[0]
    assert request.headers["x-identity-header"] == app_service.identity_header
    assert request.query == {
        "api-version": "2019-08-01",
        "resource": RESOURCE,
        "client_id": USER_ASSIGNED,
    }


def test_a_wrong_identity_header_is_refused_and_never_shown(
    app_service: AppServiceIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = tokens.azure_managed_identity(RESOURCE)
    wrong = "0" * 32
    monkeypatch.setenv("IDENTITY_HEADER", wrong)
    app_service.fail_next((401, f"header {wrong} is not {app_service.identity_header}"))
    with pytest.raises(RefreshError) as info:
        provider()
    text = str(info.value)
    assert text.startswith(
        f"Azure App Service identity endpoint: GET {app_service.endpoint} answered HTTP 401"
    )
    assert "[redacted]" in text
    assert_no_secret(text, wrong)
    assert wrong not in repr(provider)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {
                "IDENTITY_ENDPOINT": "http://x",
                "IDENTITY_HEADER": "h",
                "IDENTITY_SERVER_THUMBPRINT": "t",
            },
            "Service Fabric",
        ),
        ({"IDENTITY_ENDPOINT": "http://x", "IMDS_ENDPOINT": "http://y"}, "Azure Arc"),
        ({"IDENTITY_ENDPOINT": "http://x"}, "IDENTITY_ENDPOINT is set without IDENTITY_HEADER"),
        ({"IDENTITY_ENDPOINT": "ftp://x", "IDENTITY_HEADER": "h"}, "is not an http"),
        ({"AZURE_POD_IDENTITY_AUTHORITY_HOST": "169.254.169.254"}, "is not an http"),
    ],
)
def test_environments_it_cannot_serve_are_refused_when_made(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        tokens.azure_managed_identity(RESOURCE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resource": ""}, "resource='' must be 1-1000"),
        ({"resource": RESOURCE, "client_id": ""}, "client_id='' must be"),
        ({"resource": RESOURCE, "timeout": 61}, "timeout=61"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tokens.azure_managed_identity(**kwargs)  # type: ignore[arg-type]


def test_it_pickles_by_value() -> None:
    provider = tokens.azure_managed_identity(RESOURCE, client_id=USER_ASSIGNED)
    assert pickle.loads(pickle.dumps(provider)) == provider
