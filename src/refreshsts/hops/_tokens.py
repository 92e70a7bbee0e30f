"""Tokens and assertions read at call time: from a file, a callable, or fixed text.

None of them ever enters a cache key, a log line or a repr. A cache key holds a digest of the
whole token instead: the claims inside a token prove nothing until STS has checked its
signature, so a cached entry may only serve a caller presenting the very token it was
fetched with.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Union

from .._internal import at_hand, forks
from ..errors import ConfigurationError, RefreshstsError

__all__ = [
    "Reader",
    "TokenError",
    "TokenLike",
    "check_source",
    "check_token",
    "token_digest",
]

TokenLike = Union[str, Callable[[], str]]
"""The token itself, or a callable returning it each time it is needed."""

HOLD_SECONDS = 30.0
"""How long a token read for a cache key may serve the other keys and the STS call of the
same refresh."""


class TokenError(RefreshstsError):
    """A token or assertion could not be read, or is not one STS could accept."""


def check_source(
    where: str,
    *,
    file: object,
    value: object,
    file_name: str,
    value_name: str,
    chars: tuple[int, int],
) -> tuple[str | None, TokenLike | None]:
    """Exactly one of a token file's path and a token (callable or text), each checked."""
    if (file is None) == (value is None):
        raise ConfigurationError(
            f"{where}: pass exactly one of {file_name}= (a path, re-read on every refresh) or "
            f"{value_name}= (a callable returning it, or the text itself); got "
            f"{'both' if file is not None else 'neither'}"
        )
    if file is None:
        return None, check_token(where, value, name=value_name, chars=chars)
    path = os.fspath(file) if isinstance(file, (str, os.PathLike)) else None
    if not isinstance(path, str):
        raise ConfigurationError(
            f"{where}: {file_name} must be a path (text or a pathlib.Path), not "
            f"{type(file).__name__}"
        )
    path = os.path.expanduser(path)
    if not path.strip():
        raise ConfigurationError(f"{where}: {file_name} is empty: pass the token file's path")
    if os.path.isdir(path):
        raise ConfigurationError(f"{where}: {file_name}={path!r} is a directory, not a file")
    return path, None


def check_token(where: str, value: object, *, name: str, chars: tuple[int, int]) -> TokenLike:
    """A token given directly: a callable returning it, or text STS could accept."""
    if callable(value):
        return value
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{where}: {name} must be text or a callable returning text, not {type(value).__name__}"
        )
    return check_text(where, value, name=name, chars=chars, error=ConfigurationError)


def check_text(
    where: str,
    text: object,
    *,
    name: str,
    chars: tuple[int, int],
    error: type[Exception] = TokenError,
) -> str:
    """A token STS could accept: text of `chars` (low, high) characters."""
    low, high = chars
    if not isinstance(text, str):
        raise error(f"{where}: {name} gave a {type(text).__name__}, not text")
    text = text.strip()
    if not low <= len(text) <= high:
        raise error(f"{where}: {name} is {len(text)} characters; STS accepts {low}-{high}")
    return text


class Reader:
    """Where a hop's token comes from, read afresh each time a refresh needs it.

    A token read for a cache key is held until an STS call sends it, for at most
    HOLD_SECONDS: the other cache keys of the same refresh (one per hop of a chain) and the
    call reuse it, so one refresh asks a callable once. A copy or a pickle holds nothing.
    """

    def __init__(
        self,
        where: str,
        *,
        file: str | None,
        value: TokenLike | None,
        name: str,
        chars: tuple[int, int],
    ) -> None:
        self.where, self.file, self.value, self.name, self.chars = where, file, value, name, chars
        self._lock = threading.Lock()
        self._held: tuple[float, str] | None = None
        forks.reset_in_child(self, "_lock")

    def read(self) -> str:
        """The token now: the file read afresh, the callable called, or the fixed text."""
        if self.file is not None:
            try:
                with open(self.file, encoding="utf-8") as handle:
                    text: object = handle.read()
            except FileNotFoundError:
                raise TokenError(
                    f"{self.where}: {self.name} file {self.file!r} does not exist"
                ) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise TokenError(
                    f"{self.where}: cannot read {self.name} file {self.file!r}: {exc}"
                ) from None
        elif callable(self.value):
            text = self.value()
        else:
            text = self.value
        return check_text(self.where, text, name=self.name, chars=self.chars)

    @property
    def fixed(self) -> bool:
        """True when the token is text given once, not a file or a callable."""
        return self.file is None and not callable(self.value)

    def read_for_key(self) -> str:
        """The token for a cache key, held for the other keys and the STS call that follow.

        A callable's held answer, fresh and unsent, is reused, so the keys of one refresh
        (one per hop of a chain) ask it once; a file is read again, which costs nothing.
        """
        if callable(self.value):
            with self._lock:
                held = self._held
            if held is not None and time.monotonic() - held[0] <= HOLD_SECONDS:
                return held[1]
            if at_hand.required():
                raise TokenError(f"{self.where}: the {self.name} callable is not asked here")
        text = self.read()
        self.hold(text)
        return text

    def read_for_call(self) -> str:
        """The token held for this call if it is fresh, else the token now."""
        with self._lock:
            held, self._held = self._held, None
        if held is None or time.monotonic() - held[0] > HOLD_SECONDS:
            return self.read()
        return held[1]

    def hold(self, text: str) -> None:
        """Keep `text` unsent for the next key or call, for at most HOLD_SECONDS."""
        with self._lock:
            self._held = (time.monotonic(), text)

    def describe(self) -> str:
        """Where the token comes from, for labels: never the token."""
        if self.file is not None:
            return f"{self.name} file {self.file}"
        return f"a {self.name} callable" if callable(self.value) else f"a fixed {self.name}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reader, (self.where, self.file, self.value, self.name, self.chars))


def _reader(
    where: str, file: str | None, value: TokenLike | None, name: str, chars: tuple[int, int]
) -> Reader:
    return Reader(where, file=file, value=value, name=name, chars=chars)


def token_digest(kind: str, token: str) -> str:
    """A digest of the whole `token` (`kind`: "jwt", "saml"), for cache keys.

    Keys built from a token's claims (JWT iss/sub/aud, SAML Issuer/NameID) would hand a
    cached entry to anyone who forges a token with those claims and a bad signature; a
    digest of the whole token binds the entry to the token STS accepted. SHA-256 does not
    reveal the token, whose signature alone holds far too many bits to guess.
    """
    material = f"refreshsts {kind} token\0{token}".encode()
    return "sha256:" + hashlib.sha256(material).hexdigest()
