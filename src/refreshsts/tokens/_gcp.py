"""Google Cloud: a Google-signed ID token for the instance's service account, from metadata."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote

from ..errors import ConfigurationError, RefreshError
from . import _http

__all__ = ["GcpMetadataToken", "gcp_metadata"]

HOST_ENV = "GCE_METADATA_HOST"
OLD_HOST_ENV = "GCE_METADATA_ROOT"
DEFAULT_HOST = "metadata.google.internal"
PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"
FLAVOR = "Metadata-Flavor"
_HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?", re.ASCII)
_WHERE = "gcp_metadata"
_WHAT = "Google metadata server"


@dataclass(frozen=True)
class GcpMetadataToken:
    """Asks the GCE/GKE metadata server for a new ID token each time it is called.

    The server is ``GCE_METADATA_HOST`` (``host[:port]``), else ``GCE_METADATA_ROOT``,
    else ``metadata.google.internal``, read at each call as google-auth reads them. An
    answer without the ``Metadata-Flavor: Google`` header is not from a Google metadata
    server, and its token is refused. Made by `gcp_metadata`.

    Args:
        audience: The token's ``aud`` claim.
        timeout: Seconds per request.
        attempts: Tries per token.
    """

    audience: str
    timeout: float = 3.0
    attempts: int = 3

    def __call__(self) -> str:
        """A new ID token for the instance's default service account.

        Returns:
            The ID token (a JWT signed by Google, ``format=full``).

        Raises:
            RefreshError: The server failed or refused, or answered without its
                ``Metadata-Flavor: Google`` header.
        """
        url = (
            f"http://{_host(RefreshError)}{PATH}?audience={quote(self.audience, safe='')}"
            "&format=full"
        )
        answer = _http.get(
            url,
            {FLAVOR: "Google"},
            what=_WHAT,
            timeout=self.timeout,
            attempts=self.attempts,
            proxies=False,
        )
        if answer.headers.get(FLAVOR) != "Google":
            raise RefreshError(
                f"{_WHAT}: GET {_http.endpoint(url)} answered without the header "
                f"'{FLAVOR}: Google', so it is not a Google metadata server; its token is "
                f"refused (check {HOST_ENV})"
            )
        token = answer.body.decode("utf-8", "replace").strip()
        if token.count(".") != 2:
            raise RefreshError(
                f"{_WHAT}: GET {_http.endpoint(url)} answered HTTP {answer.status} with "
                "something other than an ID token"
            )
        return token


def gcp_metadata(audience: str, *, timeout: float = 3.0, attempts: int = 3) -> GcpMetadataToken:
    """A token callable for `AssumeRoleWithWebIdentity` on Compute Engine, GKE or Cloud Run.

    Each call gets a new Google-signed ID token for the default service account from the
    metadata server's ``instance/service-accounts/default/identity`` (``format=full``).
    In AWS, the identity provider is ``accounts.google.com``. Google service account tokens
    carry an ``azp`` claim, so the trust policy's ``accounts.google.com:aud`` is the service
    account's numeric unique ID, ``accounts.google.com:oaud`` is this `audience` and
    ``accounts.google.com:sub`` is the unique ID again: check all three.

    Args:
        audience: The token's ``aud`` claim (required by the metadata server).
        timeout: Seconds per request, above 0 and at most 60.
        attempts: Tries per token (busy answers and connection failures are retried),
            1 to 10.

    Returns:
        A callable returning a new token each time it is called.

    Raises:
        ConfigurationError: `audience` is missing or malformed, ``GCE_METADATA_HOST`` is
            not ``host[:port]``, or a number is out of range.
    """
    made = GcpMetadataToken(
        audience=_http.check_text(_WHERE, "audience", audience),
        timeout=_http.check_timeout(_WHERE, timeout),
        attempts=_http.check_attempts(_WHERE, attempts),
    )
    _host(ConfigurationError)
    return made


def _host(error: type[Exception]) -> str:
    """The metadata server's ``host[:port]``, or `error` when the variable is malformed."""
    for name in (HOST_ENV, OLD_HOST_ENV):
        value = os.environ.get(name)
        if value:
            if not _HOST.fullmatch(value):
                raise error(
                    f"{_WHERE}: {name}={value!r} is not host[:port], e.g. '169.254.169.254'"
                )
            return value
    return DEFAULT_HOST
