"""ContainerCredentials: an ECS task role or EKS Pod Identity role as the root of a chain."""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from botocore.credentials import ContainerProvider, Credentials
from botocore.httpsession import URLLib3Session
from botocore.utils import ContainerMetadataFetcher

from .errors import ConfigurationError, RefreshError
from .sources import Source, SourceLike

__all__ = ["ContainerCredentials"]

FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
RELATIVE_URI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105 - a variable name
TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"  # noqa: S105
ECS_HOST = "169.254.170.2"
_HTTP_HOSTS = frozenset({ECS_HOST, "169.254.170.23", "fd00:ec2::23", "localhost"})
_ROLE = "a container role (ECS task role or EKS Pod Identity)"


class ContainerCredentials(Source):
    """Credentials from the container credentials endpoint that ECS and EKS Pod Identity run.

    The endpoint is `full_uri` or `relative_uri` (on ``http://169.254.170.2``), else
    ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` / ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``. The
    ``Authorization`` header is `authorization_token`, else the file
    `authorization_token_file` (re-read on every fetch, as EKS rotates it), else
    ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` / ``AWS_CONTAINER_AUTHORIZATION_TOKEN``.
    Container credentials are a role session, so an AssumeRole right after this source is
    role chaining: at most 1 h.
    """

    def __init__(
        self,
        *,
        full_uri: str | None = None,
        relative_uri: str | None = None,
        authorization_token: str | None = None,
        authorization_token_file: str | None = None,
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
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (0 < timeout <= 60)
        ):
            raise ConfigurationError(
                f"ContainerCredentials: timeout={timeout!r} must be a number of seconds in (0, 60]"
            )
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise ConfigurationError(f"ContainerCredentials: attempts={attempts!r} must be 1-10")
        self.full_uri = full_uri
        self.relative_uri = relative_uri
        self._token = authorization_token
        self.authorization_token_file = authorization_token_file
        self.timeout = float(timeout)
        self.attempts = attempts
        self._environ()  # refuse an endpoint or token that can never work, before any call
        super().__init__(
            label="container credentials",
            role_session=_ROLE,
            picklable=authorization_token is None,
            why_not_picklable=(
                "this RefreshableSession's source is ContainerCredentials holding an "
                "authorization token, which a pickle would have to carry; pass "
                "authorization_token_file= or set AWS_CONTAINER_AUTHORIZATION_TOKEN instead"
            ),
        )
        self._creds_lock = threading.Lock()
        self._creds: Credentials | None = None

    def _environ(self) -> dict[str, str]:
        """The settings botocore's ContainerProvider reads, explicit arguments first."""
        env: dict[str, str] = {}
        if self.full_uri is not None:
            env[FULL_URI] = self.full_uri
        elif self.relative_uri is not None:
            env[RELATIVE_URI] = self.relative_uri
        elif os.environ.get(RELATIVE_URI):
            env[RELATIVE_URI] = os.environ[RELATIVE_URI]
        elif os.environ.get(FULL_URI):
            env[FULL_URI] = os.environ[FULL_URI]
        else:
            raise ConfigurationError(
                f"ContainerCredentials: no endpoint: {FULL_URI} and {RELATIVE_URI} are unset "
                "(ECS and EKS Pod Identity set one in the container); pass full_uri= to name it"
            )
        if RELATIVE_URI in env:
            if not env[RELATIVE_URI].startswith("/"):
                raise ConfigurationError(
                    f"ContainerCredentials: relative URI {env[RELATIVE_URI]!r} must start "
                    f"with '/' (it is a path on http://{ECS_HOST})"
                )
        else:
            _check_full_uri(env[FULL_URI])
        if self._token is not None:
            env[TOKEN] = self._token
        elif self.authorization_token_file is not None:
            env[TOKEN_FILE] = self.authorization_token_file
        elif os.environ.get(TOKEN_FILE):
            env[TOKEN_FILE] = os.environ[TOKEN_FILE]
        elif os.environ.get(TOKEN):
            env[TOKEN] = os.environ[TOKEN]
        if "\r" in env.get(TOKEN, "") or "\n" in env.get(TOKEN, ""):
            raise ConfigurationError(
                "ContainerCredentials: the authorization token holds a line break, which no "
                "HTTP header may"
            )
        return env

    def credentials(self) -> Credentials:
        """The container role's credentials; botocore refreshes them from the endpoint."""
        with self._creds_lock:
            if self._creds is None:
                self._creds = self._load()
            return self._creds

    def _load(self) -> Credentials:
        try:
            env = self._environ()
        except ConfigurationError as exc:
            raise RefreshError(str(exc), hop=0, description=self.label) from exc
        try:
            fetcher = ContainerMetadataFetcher(
                session=URLLib3Session(timeout=self.timeout),
                sleep=time.sleep if self.attempts > 1 else _no_wait,
            )
            fetcher.TIMEOUT_SECONDS = self.timeout
            fetcher.RETRY_ATTEMPTS = self.attempts
            creds = ContainerProvider(environ=env, fetcher=fetcher).load()
        except Exception as exc:
            raise RefreshError(
                f"{self.label}: could not read credentials from {_where(env)}: "
                f"{type(exc).__name__}: {exc}",
                hop=0,
                description=self.label,
            ) from exc
        if creds is None:  # pragma: no cover - _environ always names an endpoint
            raise RefreshError(f"{self.label}: no endpoint", hop=0, description=self.label)
        return creds

    def recipe(self) -> tuple[str, SourceLike]:
        super().recipe()
        return ("source", self)

    def __reduce__(self) -> tuple[Any, ...]:
        super().recipe()
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


def _no_wait(seconds: float) -> None:
    """botocore sleeps after the last failed attempt too; with one attempt there is no next."""


def _where(env: dict[str, str]) -> str:
    if RELATIVE_URI in env:
        return f"http://{ECS_HOST}{env[RELATIVE_URI]}"
    return env.get(FULL_URI, "?")


def _check_full_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
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
