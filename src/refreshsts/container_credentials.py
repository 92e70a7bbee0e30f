"""ContainerCredentials: an ECS task role or EKS Pod Identity role as the root of a chain."""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Any
from urllib.parse import urlsplit

from botocore.credentials import ContainerProvider, Credentials
from botocore.httpsession import URLLib3Session
from botocore.utils import ContainerMetadataFetcher

from .errors import ConfigurationError
from .sources import EndpointSource

__all__ = ["ContainerCredentials"]

FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
RELATIVE_URI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105 - a variable name
TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"  # noqa: S105
ECS_HOST = "169.254.170.2"
_HTTP_HOSTS = frozenset({ECS_HOST, "169.254.170.23", "fd00:ec2::23", "localhost"})
_ROLE = "a container role (ECS task role or EKS Pod Identity)"


class ContainerCredentials(EndpointSource):
    """Credentials from the container credentials endpoint that ECS and EKS Pod Identity run.

    The endpoint is `full_uri` or `relative_uri` (on ``http://169.254.170.2``), else
    ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` / ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``. The
    ``Authorization`` header is `authorization_token`, else the file
    `authorization_token_file` (re-read on every fetch, as EKS rotates it), else
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` / ``AWS_CONTAINER_AUTHORIZATION_TOKEN``.
    Container credentials are a role session, so an AssumeRole right after this source is
    role chaining: at most 1 h.

    Args:
        full_uri: The endpoint's full http(s) URL.
        relative_uri: The endpoint's path on ``http://169.254.170.2``.
        authorization_token: The ``Authorization`` header's value (makes the source
            unpicklable).
        authorization_token_file: A file holding that value, re-read on every fetch.
        timeout: Seconds per request, above 0 and at most 60.
        attempts: Tries per fetch, 1 to 10.

    Raises:
        ConfigurationError: Both of a pair are given, a value is malformed, or the
            environment names an endpoint or token that can never work.
    """

    def __init__(
        self,
        *,
        full_uri: str | None = None,
        relative_uri: str | None = None,
        authorization_token: str | None = None,
        authorization_token_file: str | os.PathLike[str] | None = None,
        timeout: float = 2.0,
        attempts: int = 3,
    ) -> None:
        if full_uri is not None and relative_uri is not None:
            raise ConfigurationError(
                "ContainerCredentials: pass full_uri= or relative_uri=, not both"
            )
        if authorization_token is not None and authorization_token_file is not None:
            raise ConfigurationError(
                "ContainerCredentials: pass authorization_token= or authorization_token_file=, "
                "not both"
            )
        self.full_uri = _text("full_uri", full_uri, "an http(s) URL")
        self.relative_uri = _text("relative_uri", relative_uri, f"a path on http://{ECS_HOST}")
        self._token = _text("authorization_token", authorization_token, "the header's value")
        self.authorization_token_file = _path("authorization_token_file", authorization_token_file)
        self._environ()  # refuse an endpoint or token that can never work, before any call
        super().__init__(
            timeout=timeout,
            attempts=attempts,
            label="container credentials",
            role_session=_ROLE,
            picklable=authorization_token is None,
            why_not_picklable=(
                "this RefreshableSession's source is ContainerCredentials holding an "
                "authorization token, which a pickle would have to carry; pass "
                "authorization_token_file= or set AWS_CONTAINER_AUTHORIZATION_TOKEN instead"
            ),
        )

    def _environ(self) -> dict[str, str]:
        """The settings botocore's ContainerProvider reads, explicit arguments first."""
        endpoint = _first_set(
            (FULL_URI, self.full_uri),
            (RELATIVE_URI, self.relative_uri),
            (RELATIVE_URI, os.environ.get(RELATIVE_URI) or None),
            (FULL_URI, os.environ.get(FULL_URI) or None),
        )
        if endpoint is None:
            raise ConfigurationError(
                f"ContainerCredentials: no endpoint: {FULL_URI} and {RELATIVE_URI} are unset "
                "(ECS and EKS Pod Identity set one in the container); pass full_uri= to name it"
            )
        variable, uri = endpoint
        if variable == RELATIVE_URI and not uri.startswith("/"):
            raise ConfigurationError(
                f"ContainerCredentials: relative URI {uri!r} must start with '/' (it is a path "
                f"on http://{ECS_HOST})"
            )
        if variable == FULL_URI:
            _check_full_uri(uri)
        env = {variable: uri}
        token = _first_set(
            (TOKEN, self._token),
            (TOKEN_FILE, self.authorization_token_file),
            (TOKEN_FILE, os.environ.get(TOKEN_FILE) or None),
            (TOKEN, os.environ.get(TOKEN) or None),
        )
        if token is not None:
            env[token[0]] = token[1]
        if "\r" in env.get(TOKEN, "") or "\n" in env.get(TOKEN, ""):
            raise ConfigurationError(
                "ContainerCredentials: the authorization token holds a line break, which no "
                "HTTP header may"
            )
        return env

    def _load(self) -> Credentials:
        try:
            env = self._environ()
        except ConfigurationError as exc:
            raise self._error(str(exc)) from exc
        try:
            fetcher = ContainerMetadataFetcher(
                session=URLLib3Session(timeout=self.timeout),
                sleep=time.sleep if self.attempts > 1 else _no_wait,
            )
            fetcher.TIMEOUT_SECONDS = self.timeout
            fetcher.RETRY_ATTEMPTS = self.attempts
            creds = ContainerProvider(environ=env, fetcher=fetcher).load()
        except Exception as exc:
            raise self._error(
                f"{self.label}: could not read credentials from {_where(env)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if creds is None:  # pragma: no cover - _environ always names an endpoint
            raise self._error(f"{self.label}: no endpoint")
        return creds

    def __reduce__(self) -> tuple[Any, ...]:
        self.recipe()  # refuses when holding a token
        return (
            _rebuild,
            (
                self.full_uri,
                self.relative_uri,
                self.authorization_token_file,
                self.timeout,
                self.attempts,
            ),
        )

    def __repr__(self) -> str:
        return f"ContainerCredentials({_where(self._environ())})"


def _text(name: str, value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigurationError(
        f"ContainerCredentials: {name} must be text ({what}), not {type(value).__name__}"
    )


def _path(name: str, value: object) -> str | None:
    path = os.fspath(value) if isinstance(value, os.PathLike) else value
    if path is None or isinstance(path, str):
        return path
    raise ConfigurationError(
        f"ContainerCredentials: {name} must be a path (text or a pathlib.Path), not "
        f"{type(value).__name__}"
    )


def _first_set(*candidates: tuple[str, str | None]) -> tuple[str, str] | None:
    """The first (variable, value) pair whose value is set."""
    for variable, value in candidates:
        if value is not None:
            return variable, value
    return None


def _no_wait(seconds: float) -> None:
    """botocore sleeps after the last failed attempt too; with one attempt there is no next."""


def _where(env: dict[str, str]) -> str:
    if RELATIVE_URI in env:
        return f"http://{ECS_HOST}{env[RELATIVE_URI]}"
    return env.get(FULL_URI, "?")


def _check_full_uri(uri: str) -> None:
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unclosed [IPv6] host
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"ContainerCredentials: full URI {uri!r} is not an http(s) URL")
    if parts.scheme == "https" or parts.hostname in _HTTP_HOSTS:
        return
    try:
        loopback = ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            f"ContainerCredentials: full URI {uri!r} uses plain http on host "
            f"{parts.hostname!r}; http is allowed only for a loopback address or "
            f"{', '.join(sorted(_HTTP_HOSTS))} (use https otherwise)"
        )


def _rebuild(
    full_uri: str | None,
    relative_uri: str | None,
    token_file: str | None,
    timeout: float,
    attempts: int,
) -> ContainerCredentials:
    return ContainerCredentials(
        full_uri=full_uri,
        relative_uri=relative_uri,
        authorization_token_file=token_file,
        timeout=timeout,
        attempts=attempts,
    )
