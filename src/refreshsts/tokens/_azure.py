"""Azure: a managed identity's Entra ID token, from IMDS or the App Service identity endpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlencode

from ..errors import ConfigurationError, RefreshError
from . import _http

__all__ = ["AzureManagedIdentityToken", "azure_managed_identity"]

IMDS = "http://169.254.169.254"
IMDS_PATH = "/metadata/identity/oauth2/token"
IMDS_VERSION = "2018-02-01"
POD_IDENTITY_ENV = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
ENDPOINT_ENV = "IDENTITY_ENDPOINT"
HEADER_ENV = "IDENTITY_HEADER"
APP_SERVICE_VERSION = "2019-08-01"
IMDS_RETRY_STATUSES = _http.RETRY_STATUSES | {404, 410}
"""IMDS answers 404 while an identity is being assigned and 410 while it is updating."""
_WHERE = "azure_managed_identity"


@dataclass(frozen=True)
class AzureManagedIdentityToken:
    """Asks Azure for a new managed identity token each time it is called.

    App Service and Functions (``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` set) are asked
    at their identity endpoint, everything else (VMs, scale sets, AKS) at IMDS, read at
    each call. It holds no secret, so it pickles and prints safely. Made by
    `azure_managed_identity`.

    Args:
        resource: The Entra ID application the token is for (its ``aud`` claim).
        client_id: A user-assigned identity's client ID; None for the system-assigned one.
        timeout: Seconds per request.
        attempts: Tries per token.
    """

    resource: str
    client_id: str | None = None
    timeout: float = 5.0
    attempts: int = 4

    def __call__(self) -> str:
        """A new access token for `resource`.

        Returns:
            The token (a JWT signed by Entra ID).

        Raises:
            RefreshError: The endpoint failed or refused (an identity not assigned to this
                resource is a 400).
        """
        params = {"resource": self.resource}
        if self.client_id is not None:
            params["client_id"] = self.client_id
        endpoint, secret = _target(RefreshError)
        if secret is None:
            url = f"{endpoint}?{urlencode({'api-version': IMDS_VERSION, **params})}"
            what, headers, retry = "Azure IMDS", {"Metadata": "true"}, IMDS_RETRY_STATUSES
        else:
            joiner = "&" if "?" in endpoint else "?"
            url = f"{endpoint}{joiner}{urlencode({'api-version': APP_SERVICE_VERSION, **params})}"
            what, headers, retry = (
                "Azure App Service identity endpoint",
                {"X-IDENTITY-HEADER": secret},
                _http.RETRY_STATUSES,
            )
        answer = _http.get(
            url,
            headers,
            what=what,
            secrets=() if secret is None else (secret,),
            timeout=self.timeout,
            attempts=self.attempts,
            retry_statuses=retry,
            proxies=False,
        )
        return _http.json_text(answer, "access_token", what=what, url=url)


def azure_managed_identity(
    resource: str, client_id: str | None = None, *, timeout: float = 5.0, attempts: int = 4
) -> AzureManagedIdentityToken:
    """A token callable for `AssumeRoleWithWebIdentity` with an Azure managed identity.

    Each call gets a new Entra ID token for `resource`: from the App Service / Functions
    identity endpoint (``IDENTITY_ENDPOINT`` with the ``X-IDENTITY-HEADER`` secret
    ``IDENTITY_HEADER``, api-version 2019-08-01) when those are set, else from IMDS
    (``http://169.254.169.254``, or ``AZURE_POD_IDENTITY_AUTHORITY_HOST``, api-version
    2018-02-01, header ``Metadata: true``), as azure-identity's ManagedIdentityCredential
    does. In AWS, the identity provider is ``https://sts.windows.net/TENANT_ID/`` with
    `resource` as its audience.

    Args:
        resource: The Entra ID application ID URI or client ID the token is for, e.g.
            ``api://aws-federation``; a scope's ``/.default`` suffix is dropped.
        client_id: A user-assigned identity's client ID; by default the system-assigned
            identity.
        timeout: Seconds per request, above 0 and at most 60.
        attempts: Tries per token (busy answers and connection failures are retried),
            1 to 10.

    Returns:
        A callable returning a new token each time it is called.

    Raises:
        ConfigurationError: A parameter is missing or malformed, or the environment is
            Service Fabric or Azure Arc, whose endpoints are not supported.
    """
    if isinstance(resource, str) and resource.endswith("/.default"):
        resource = resource.removesuffix("/.default")
    made = AzureManagedIdentityToken(
        resource=_http.check_text(_WHERE, "resource", resource),
        client_id=None if client_id is None else _http.check_text(_WHERE, "client_id", client_id),
        timeout=_http.check_timeout(_WHERE, timeout),
        attempts=_http.check_attempts(_WHERE, attempts),
    )
    _target(ConfigurationError)
    return made


def _target(error: type[Exception]) -> tuple[str, str | None]:
    """The token endpoint and, for App Service, its header secret (None for IMDS)."""
    env = os.environ
    endpoint, secret = env.get(ENDPOINT_ENV), env.get(HEADER_ENV)
    if endpoint and secret:
        if env.get("IDENTITY_SERVER_THUMBPRINT"):
            raise error(
                f"{_WHERE}: IDENTITY_SERVER_THUMBPRINT is set, so this is Service Fabric, whose "
                "managed identity endpoint is not supported"
            )
        if not endpoint.startswith(("http://", "https://")):
            raise error(f"{_WHERE}: {ENDPOINT_ENV}={endpoint!r} is not an http(s) URL")
        return endpoint, secret
    if endpoint:
        if env.get("IMDS_ENDPOINT"):
            raise error(
                f"{_WHERE}: {ENDPOINT_ENV} and IMDS_ENDPOINT are set, so this is Azure Arc, "
                "whose managed identity endpoint is not supported"
            )
        raise error(
            f"{_WHERE}: {ENDPOINT_ENV} is set without {HEADER_ENV} (App Service and Functions "
            "set both): unset it to use IMDS"
        )
    authority = env.get(POD_IDENTITY_ENV) or IMDS
    if not authority.startswith(("http://", "https://")):
        raise error(f"{_WHERE}: {POD_IDENTITY_ENV}={authority!r} is not an http(s) URL")
    return authority.rstrip("/") + IMDS_PATH, None
