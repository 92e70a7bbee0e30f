"""AWS outbound: a JWT signed by STS (GetWebIdentityToken), for other clouds and services."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .._chain import GLOBAL_STS_HOST, new_sts_client
from .._internal import forks, withheld
from .._internal.botocore_sessions import sts_client_config
from .._internal.urls import is_http_url
from .._regions import check_region
from ..durations import MAX, DurationLike, format_duration, parse_duration
from ..errors import ConfigurationError, RefreshError
from ..hops import _validate as check
from ..hops._session_policy import TagsLike

__all__ = ["AwsWebIdentityToken", "aws_web_identity"]

logger = logging.getLogger("refreshsts")

ALGORITHMS = ("RS256", "ES384")
AUDIENCES = (1, 10)
AUDIENCE_CHARS = 1000
DURATIONS = (60, 3600)
MARGIN = 60.0
"""A token is fetched again this long before it expires, or a third of its life if less."""
USABLE = 5.0
"""A token with less left than this is not handed out when a refresh fails."""
_WHERE = "aws_web_identity"
_DISABLED = "OutboundWebIdentityFederationDisabledException"


class AwsWebIdentityToken:
    """A JWT from STS GetWebIdentityToken, reused while fresh and fetched again before expiry.

    Calling it returns the token; one STS call serves every caller until the token is
    within a minute (or a third of its life, if shorter) of its expiration, and threads
    asking together share one call. If that refresh fails while the token in hand is still
    valid, the token is handed out and STS asked again a few seconds later. The token never
    enters a repr, a log or a pickle.
    Made by `aws_web_identity`, which checks the parameters.

    Args:
        session: The session whose credentials sign the call.
        audience: The token's audiences.
        signing_algorithm: ``"RS256"`` or ``"ES384"``.
        duration: The token's lifetime in seconds; None for STS's default.
        tags: (key, value) claims to add.
        region: The STS region.
        endpoint_url: An STS endpoint to use instead of AWS's, or None.
    """

    def __init__(
        self,
        session: Any,
        *,
        audience: tuple[str, ...],
        signing_algorithm: str,
        duration: int | None,
        tags: tuple[tuple[str, str], ...],
        region: str,
        endpoint_url: str | None,
    ) -> None:
        self._session = session
        self.audience = audience
        self.signing_algorithm = signing_algorithm
        self.duration = duration
        self.tags = tags
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = self._new_client()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expiration: dt.datetime | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        forks.reset_in_child(self, "_lock")

    def _new_client(self) -> Any:
        """An STS client signed by the session's credentials, refused on the global endpoint."""
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ConfigurationError(
                f"{_WHERE}: the session has no credentials to sign GetWebIdentityToken with"
            )
        profile = getattr(getattr(self._session, "_session", None), "profile", None)
        client = new_sts_client(
            credentials,
            profile=profile,
            region=self.region,
            endpoint_url=self.endpoint_url,
            config=sts_client_config(None),
        )
        if urllib.parse.urlsplit(client.meta.endpoint_url).hostname == GLOBAL_STS_HOST:
            raise ConfigurationError(
                f"{_WHERE}: the STS endpoint for region {self.region!r} is the global "
                f"{client.meta.endpoint_url}, which does not serve GetWebIdentityToken: set "
                "sts_regional_endpoints = regional (AWS_STS_REGIONAL_ENDPOINTS=regional) "
                "or pass endpoint_url="
            )
        return client

    def _after_fork_in_child(self) -> None:
        forks.drop_connections(self._client)

    def __call__(self) -> str:
        """The token in hand while it is fresh, else a new one from STS.

        Returns:
            The JWT STS signed.

        Raises:
            RefreshError: STS refused or failed, or the session's credentials could not be
                refreshed.
        """
        with self._lock:
            now = time.time()
            if self._token is not None and now < self._refresh_at:
                return self._token
            try:
                self._fetch()
            except RefreshError as exc:
                if self._token is None or now >= self._expires_at - USABLE:
                    raise
                self._refresh_at = now + min(10.0, (self._expires_at - now) / 3)
                logger.warning("%s; the token in hand serves until it expires", exc)
            assert self._token is not None
            return self._token

    @property
    def expiration(self) -> dt.datetime | None:
        """When the token in hand expires (UTC); None before the first call."""
        with self._lock:
            return self._expiration

    def _fetch(self) -> None:
        params: dict[str, Any] = {
            "Audience": list(self.audience),
            "SigningAlgorithm": self.signing_algorithm,
        }
        if self.duration is not None:
            params["DurationSeconds"] = self.duration
        if self.tags:
            params["Tags"] = [{"Key": key, "Value": value} for key, value in self.tags]
        asked = time.time()
        try:
            answer = withheld.calling(lambda: self._client.get_web_identity_token(**params))
        except ResponseParserError as exc:  # the stand-in: the token stays out of it
            raise RefreshError(f"{self._label()}: {type(exc).__name__}: {exc}") from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "?")
            hint = (
                ": enable it with 'aws iam enable-outbound-web-identity-federation'"
                if code == _DISABLED
                else ""
            )
            raise RefreshError(
                f"{self._label()}: STS answered {code}: {error.get('Message', '')}{hint}"
            ) from exc
        except BotoCoreError as exc:
            raise RefreshError(f"{self._label()}: {type(exc).__name__}: {exc}") from exc
        token, expiration = answer.get("WebIdentityToken"), answer.get("Expiration")
        if not isinstance(token, str) or not token or not isinstance(expiration, dt.datetime):
            raise RefreshError(f"{self._label()}: STS answered without a token and expiration")
        expires = expiration.timestamp()
        life = max(0.0, expires - asked)
        self._token, self._expiration = token, expiration.astimezone(dt.timezone.utc)
        self._expires_at = expires
        self._refresh_at = expires - min(MARGIN, life / 3)

    def _label(self) -> str:
        return f"GetWebIdentityToken for audience {', '.join(self.audience)} in {self.region}"

    def __repr__(self) -> str:
        return (
            f"AwsWebIdentityToken(audience={list(self.audience)!r}, "
            f"signing_algorithm={self.signing_algorithm!r}, region={self.region!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """A pickle carries the session and the parameters, never the token in hand."""
        options = {
            "audience": self.audience,
            "signing_algorithm": self.signing_algorithm,
            "duration": self.duration,
            "tags": self.tags,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
        }
        return (_rebuild, (self._session, options))


def aws_web_identity(
    session: Any,
    audience: str | Iterable[str],
    *,
    signing_algorithm: str = "RS256",
    duration: DurationLike | None = None,
    tags: TagsLike = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> AwsWebIdentityToken:
    """A callable returning a JWT that STS signs for `session`'s principal (outbound).

    STS ``GetWebIdentityToken`` (outbound identity federation, which the account must
    enable first) gives a JWT naming the AWS principal, for services and other clouds
    that trust the account's issuer URL. The call is signed by `session`'s credentials and
    made on a regional STS endpoint: the global endpoint does not serve it.

    Args:
        session: A `RefreshableSession` or a `boto3.Session` whose credentials sign the call.
        audience: The token's ``aud``: one text or up to 10, each 1-1000 characters.
        signing_algorithm: ``"RS256"`` or ``"ES384"``.
        duration: The token's lifetime, 1 min to 1 h (seconds, a timedelta or text such as
            ``"15m"``); by default STS's 5 minutes.
        tags: Claims to add, as a mapping or (key, value) pairs, at most 50.
        region: The STS region; by default the session's.
        endpoint_url: An STS endpoint to use instead of AWS's.

    Returns:
        A callable returning the token, fetched again before it expires.

    Raises:
        ConfigurationError: A parameter is out of range, the session has no credentials or
            region, or the STS endpoint would be the global one.
    """
    region = region if region is not None else getattr(session, "region_name", None)
    if not region or region == "aws-global":
        raise ConfigurationError(
            f"{_WHERE}: no region: GetWebIdentityToken needs a regional STS endpoint; pass "
            "region= or give the session one"
        )
    if endpoint_url is not None and not is_http_url(endpoint_url):
        raise ConfigurationError(
            f"{_WHERE}: endpoint_url={endpoint_url!r} must be an http(s) URL, e.g. "
            "'https://sts.eu-west-1.amazonaws.com'"
        )
    return AwsWebIdentityToken(
        session,
        audience=_audience(audience),
        signing_algorithm=_algorithm(signing_algorithm),
        duration=_duration(duration),
        tags=check.tags(_WHERE, tags),
        region=check_region(region),
        endpoint_url=endpoint_url,
    )


def _audience(value: object) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else value
    if not isinstance(values, Iterable):
        raise ConfigurationError(
            f"{_WHERE}: audience must be text or a list of text, not {type(value).__name__}"
        )
    audience = tuple(values)
    low, high = AUDIENCES
    if not low <= len(audience) <= high:
        raise ConfigurationError(
            f"{_WHERE}: {len(audience)} audiences given; STS accepts {low}-{high}"
        )
    for item in audience:
        if not isinstance(item, str) or not 1 <= len(item) <= AUDIENCE_CHARS:
            raise ConfigurationError(
                f"{_WHERE}: audience {item!r} must be text of 1-{AUDIENCE_CHARS} characters"
            )
    return audience


def _algorithm(value: object) -> str:
    if value not in ALGORITHMS:
        raise ConfigurationError(
            f"{_WHERE}: signing_algorithm={value!r} must be one of {', '.join(ALGORITHMS)}"
        )
    return str(value)


def _duration(value: DurationLike | None) -> int | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    low, high = DURATIONS
    if seconds == MAX or not low <= int(seconds) <= high:
        raise ConfigurationError(
            f"{_WHERE}: duration={value!r} must be {format_duration(low)}-"
            f"{format_duration(high)} ({low}-{high} s)"
        )
    return int(seconds)


def _rebuild(session: Any, options: dict[str, Any]) -> AwsWebIdentityToken:
    return AwsWebIdentityToken(session, **options)
