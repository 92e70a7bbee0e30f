"""Tokens and assertions read at call time: from a file, a callable, or fixed text.

None of them ever enters a cache key, a log line or a repr; a cache key holds only a digest
of who the token names (a JWT's issuer, subject and audience; a SAML issuer and NameID).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Union

from ..errors import ConfigurationError, RefreshstsError

__all__ = ["TokenError", "TokenLike", "describe", "jwt_subject", "read", "saml_subject"]

TokenLike = Union[str, Callable[[], str]]
"""The token itself, or a callable returning it each time it is needed."""

HOLD_SECONDS = 30.0
"""How long a token read for the cache key may serve the STS call that follows it."""


class TokenError(RefreshstsError):
    """A token or assertion could not be read, or is not one STS could accept."""


def check_source(
    where: str, *, file: object, value: object, file_name: str, value_name: str
) -> tuple[str | None, TokenLike | None]:
    """Exactly one of a path and a token (callable or text), each checked for its type."""
    if (file is None) == (value is None):
        raise ConfigurationError(
            f"{where}: pass exactly one of {file_name}= (a path, re-read on every refresh) or "
            f"{value_name}= (a callable returning it, or the text itself); got "
            f"{'both' if file is not None else 'neither'}"
        )
    if file is not None:
        if not isinstance(file, (str, os.PathLike)):
            raise ConfigurationError(
                f"{where}: {file_name} must be a path, not {type(file).__name__}"
            )
        path = os.path.expanduser(os.fspath(file))
        if not isinstance(path, str) or not path.strip():
            raise ConfigurationError(f"{where}: {file_name} is empty: pass the token file's path")
        if os.path.isdir(path):
            raise ConfigurationError(f"{where}: {file_name}={path!r} is a directory, not a file")
        return path, None
    if not (isinstance(value, str) or callable(value)):
        raise ConfigurationError(
            f"{where}: {value_name} must be text or a callable returning text, not "
            f"{type(value).__name__}"
        )
    return None, value


def check_text(
    where: str,
    text: object,
    *,
    name: str,
    low: int,
    high: int,
    error: type[Exception] = TokenError,
) -> str:
    """A token STS could accept: text of `low`-`high` characters."""
    if not isinstance(text, str):
        raise error(f"{where}: {name} gave a {type(text).__name__}, not text")
    text = text.strip()
    if not low <= len(text) <= high:
        raise error(f"{where}: {name} is {len(text)} characters; STS accepts {low}-{high}")
    return text


def read(
    where: str, *, file: str | None, value: TokenLike | None, name: str, low: int, high: int
) -> str:
    """The token now: the file read afresh, the callable called, or the fixed text."""
    if file is not None:
        try:
            with open(file, encoding="utf-8") as handle:
                text: object = handle.read()
        except FileNotFoundError:
            raise TokenError(f"{where}: {name} file {file!r} does not exist") from None
        except OSError as exc:
            raise TokenError(f"{where}: cannot read {name} file {file!r}: {exc}") from None
    elif callable(value):
        text = value()
    else:
        text = value
    return check_text(where, text, name=name, low=low, high=high)


def describe(file: str | None, value: TokenLike | None, name: str) -> str:
    if file is not None:
        return f"{name} file {file}"
    return f"a {name} callable" if callable(value) else f"a fixed {name}"


class Held:
    """A token read for the cache key, handed once to the STS call right after it.

    A copy or a pickle starts empty, so no token travels with a hop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[float, str] | None = None

    def keep(self, text: str) -> None:
        with self._lock:
            self._value = (time.monotonic(), text)

    def take(self) -> str | None:
        with self._lock:
            held, self._value = self._value, None
        if held is None or time.monotonic() - held[0] > HOLD_SECONDS:
            return None
        return held[1]

    def __reduce__(self) -> tuple[type[Held], tuple[()]]:
        return (Held, ())


def digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def jwt_subject(token: str) -> str:
    """A digest of the JWT's issuer, subject and audience; of the whole token if opaque."""
    parts = token.split(".")
    if len(parts) == 3:
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
        except (ValueError, binascii.Error):
            claims = None
        if isinstance(claims, dict) and "sub" in claims:
            return digest("jwt", claims.get("iss"), claims.get("sub"), claims.get("aud"))
    return digest("opaque", hashlib.sha256(token.encode()).hexdigest())


_ISSUER = re.compile(r"<(?:\w+:)?Issuer\b[^>]*>\s*([^<]*?)\s*</", re.S)
_NAME_ID = re.compile(r"<(?:\w+:)?NameID\b[^>]*>\s*([^<]*?)\s*</", re.S)


def saml_subject(assertion: str) -> str:
    """A digest of the SAML response's issuer and NameID; of the whole assertion if unreadable."""
    try:
        xml = base64.b64decode(assertion, validate=False).decode("utf-8", "replace")
    except (ValueError, binascii.Error):
        xml = ""
    issuer, name_id = _ISSUER.search(xml), _NAME_ID.search(xml)
    if issuer and name_id:
        return digest("saml", issuer.group(1), name_id.group(1))
    return digest("opaque", hashlib.sha256(assertion.encode()).hexdigest())
