"""One GET to a token endpoint: a timeout, a few retries, and errors that never hold a secret.

Redirects are not followed: urllib would resend the ``Authorization`` header to whatever
host a redirect names. (urllib.request is imported by botocore already: it costs nothing.)
"""

from __future__ import annotations

import http.client
import json
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from .._internal.bounded_read import read_within
from ..errors import ConfigurationError, RefreshError

__all__ = [
    "RETRY_STATUSES",
    "Answer",
    "check_attempts",
    "check_text",
    "check_timeout",
    "endpoint",
    "get",
    "json_text",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth another attempt: the server is busy, not refusing."""
ERROR_CHARS = 300
"""How much of a server's error text an error message quotes."""
MAX_BODY = 64 * 1024
"""Tokens are a few KiB; more is no token endpoint."""
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: its status, headers (case-insensitive ``get``) and body."""

    status: int
    headers: Message
    body: bytes


def check_timeout(where: str, timeout: object) -> float:
    """Seconds per request, above 0 and at most 60."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise ConfigurationError(
            f"{where}: timeout={timeout!r} must be a number of seconds in (0, 60]"
        )
    return float(timeout)


def check_attempts(where: str, attempts: object) -> int:
    """Tries per token, 1 to 10."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ConfigurationError(f"{where}: attempts={attempts!r} must be 1-10")
    return attempts


def check_text(where: str, name: str, value: object, *, most: int = 1000) -> str:
    """Text of 1 to `most` printable characters, for a query parameter such as an audience."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: {name} must be text, not {type(value).__name__}")
    if not 1 <= len(value) <= most or not value.isprintable() or value != value.strip():
        raise ConfigurationError(
            f"{where}: {name}={value!r} must be 1-{most} printable characters without "
            "leading or trailing spaces"
        )
    return value


def endpoint(url: str) -> str:
    """`url` without its query string, which may name a job or an identity: for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret blanked, on one line, trimmed to ERROR_CHARS."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def get(
    url: str,
    headers: Mapping[str, str],
    *,
    what: str,
    secrets: Collection[str] = (),
    timeout: float,
    attempts: int,
    retry_statuses: Collection[int] = RETRY_STATUSES,
    proxies: bool = True,
) -> Answer:
    """GET `url`, retrying connection failures and `retry_statuses` up to `attempts` tries.

    `what` names the endpoint in errors; `secrets` (header values) are blanked from the
    server's error text, should it echo them. `proxies`: honour ``HTTPS_PROXY`` and
    ``NO_PROXY``; metadata servers on link-local addresses are never reached through one.

    Raises:
        RefreshError: The last attempt failed, or the server refused the request.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise RefreshError(f"{what}: {endpoint(url)!r} is not an http(s) URL")
    opener = urllib.request.build_opener(
        *([] if proxies else [urllib.request.ProxyHandler({})]), _NoRedirect()
    )
    where = f"{what}: GET {endpoint(url)}"
    failure = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(min(2.0, 0.2 * 2 ** (attempt - 2)) * random.uniform(0.5, 1.0))
        request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
        deadline = time.monotonic() + 2 * timeout
        try:
            with opener.open(request, timeout=timeout) as response:
                body = read_within(response.read1, deadline=deadline, limit=MAX_BODY)
                return Answer(response.status, response.headers, body)
        except urllib.error.HTTPError as exc:
            text = redact(_read(exc).decode("utf-8", "replace"), secrets)
            failure = f"answered HTTP {exc.code}" + (f": {text}" if text else "")
            if exc.code not in retry_statuses:
                if 300 <= exc.code < 400:
                    failure += " (redirects are not followed)"
                raise RefreshError(f"{where} {failure}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            failure = f"failed: {type(reason).__name__}: {redact(str(reason), secrets)}"
    tries = f" (after {attempts} attempts of at most {timeout:g} s)" if attempts > 1 else ""
    raise RefreshError(f"{where} {failure}{tries}")


def json_text(answer: Answer, field: str, *, what: str, url: str) -> str:
    """The text `field` of a JSON object answer; the answer itself never enters the error."""
    try:
        value = json.loads(answer.body).get(field)
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise RefreshError(
            f"{what}: GET {endpoint(url)} answered HTTP {answer.status} without a token: a "
            f"JSON object with a '{field}' text was expected"
        )
    return value


def _read(exc: Any) -> bytes:
    try:
        return bytes(exc.read(ERROR_CHARS * 4))
    except Exception:
        return b""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turns every redirect into the HTTPError of the 3xx answer itself."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
