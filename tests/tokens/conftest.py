"""Token endpoint emulators on loopback, each named by the variables its provider reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.token_endpoints import AppServiceIdentity, AzureImds, GcpMetadata, GitHubOidc

PROVIDER_ENV = (
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GCE_METADATA_HOST",
    "GCE_METADATA_ROOT",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
)


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token service of the machine running the tests is ever asked."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def github_oidc(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubOidc]:
    with GitHubOidc() as emulator:
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", emulator.request_url)
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", emulator.request_token)
        yield emulator


@pytest.fixture
def gcp_metadata_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GcpMetadata]:
    with GcpMetadata() as emulator:
        monkeypatch.setenv("GCE_METADATA_HOST", emulator.host)
        yield emulator


@pytest.fixture
def azure_imds(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureImds]:
    with AzureImds(user_assigned=("0c1d2e3f-2222-4b4b-8d8d-000000000002",)) as emulator:
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emulator.url)
        yield emulator


@pytest.fixture
def app_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppServiceIdentity]:
    with AppServiceIdentity(user_assigned=("0c1d2e3f-2222-4b4b-8d8d-000000000002",)) as emulator:
        monkeypatch.setenv("IDENTITY_ENDPOINT", emulator.endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", emulator.identity_header)
        yield emulator
