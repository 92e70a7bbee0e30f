"""InstanceMetadata: the EC2 instance's IAM role as the root of a chain, read with IMDSv2."""

from __future__ import annotations

import os
import re
from typing import Any

from botocore.credentials import Credentials, InstanceMetadataProvider
from botocore.utils import InstanceMetadataFetcher, resolve_imds_endpoint_mode

from ._internal.botocore_sessions import new_botocore_session
from .errors import ConfigurationError
from .sources import EndpointSource

__all__ = ["InstanceMetadata"]

DISABLED_ENV = "AWS_EC2_METADATA_DISABLED"
_URL = re.compile(r"https?://(\[[0-9a-fA-F:]+\]|[^\s/:]+)(:\d{1,5})?/?", re.ASCII)
_ROLE = "an EC2 instance role"


class InstanceMetadata(EndpointSource):
    """The instance role of this EC2 instance, from instance metadata (IMDSv2 only).

    Each fetch is a token PUT to ``/latest/api/token``, then GETs of the role name and its
    credentials under ``/latest/meta-data/iam/security-credentials/``, done by botocore's own
    fetcher. The endpoint is `endpoint`, else ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (or
    ``ec2_metadata_service_endpoint`` in the config file), else ``http://169.254.169.254``.
    Instance role credentials are a role session, so an AssumeRole right after this source is
    role chaining: at most 1 h, and refreshsts says so when the session is built.

    Args:
        endpoint: The metadata endpoint's URL, e.g. ``http://169.254.169.254``.
        timeout: Seconds per request, above 0 and at most 60.
        attempts: Tries per fetch, 1 to 10.

    Raises:
        ConfigurationError: `endpoint` is not an http(s) URL, or a number is out of range.
    """

    def __init__(
        self, *, endpoint: str | None = None, timeout: float = 1.0, attempts: int = 2
    ) -> None:
        if endpoint is not None and (not isinstance(endpoint, str) or not _URL.fullmatch(endpoint)):
            raise ConfigurationError(
                f"InstanceMetadata: endpoint={endpoint!r} is not an http(s) URL such as "
                "'http://169.254.169.254'"
            )
        where = f" at {endpoint}" if endpoint else ""
        super().__init__(
            timeout=timeout,
            attempts=attempts,
            label=f"EC2 instance metadata{where}",
            role_session=_ROLE,
        )
        self.endpoint = endpoint

    def _load(self) -> Credentials:
        if os.environ.get(DISABLED_ENV, "false").lower() == "true":
            raise self._error(
                f"{self.label}: {DISABLED_ENV}=true turns instance metadata off in this process; "
                "unset it to use the instance role"
            )
        session = new_botocore_session()
        endpoint = self.endpoint or session.get_config_variable("ec2_metadata_service_endpoint")
        config: dict[str, Any] = {
            "ec2_metadata_service_endpoint": endpoint,
            "ec2_metadata_service_endpoint_mode": resolve_imds_endpoint_mode(session),
            "ec2_metadata_v1_disabled": True,
        }
        try:
            fetcher = InstanceMetadataFetcher(
                timeout=self.timeout,
                num_attempts=self.attempts,
                user_agent=session.user_agent(),
                config=config,
            )
            where = fetcher.get_base_url()
            creds = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
        except Exception as exc:
            raise self._error(
                f"{self.label}: could not read instance role credentials: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if creds is None:
            raise self._error(
                f"{self.label}: no instance role credentials from {where}: is an IAM role "
                "attached to the instance, is the endpoint reachable, and does the IMDSv2 "
                "hop limit (HttpPutResponseHopLimit) reach this process?"
            )
        return creds

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.endpoint, self.timeout, self.attempts))

    def __repr__(self) -> str:
        return f"InstanceMetadata(endpoint={self.endpoint!r})"


def _rebuild(endpoint: str | None, timeout: float, attempts: int) -> InstanceMetadata:
    return InstanceMetadata(endpoint=endpoint, timeout=timeout, attempts=attempts)
