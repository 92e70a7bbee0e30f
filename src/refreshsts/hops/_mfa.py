"""MFA codes: asked for only when STS is called, and never the same code twice.

AWS accepts each code of a device once, so the last code sent is remembered per device
(process-wide). A callable that hands it out again within the same 30-second TOTP step is
asked again once the device shows the next code; a code STS refused on its parameters
alone (a ValidationError, such as a DurationSeconds over the role's maximum) was never
checked, so the retry right after it sends that code again instead of asking.
"""

from __future__ import annotations

import dataclasses
import getpass
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ..errors import RefreshstsError

__all__ = [
    "MAX_ASKS",
    "MfaCodeError",
    "MfaToken",
    "next_code",
    "prompt_for_code",
    "send_with_code",
]

logger = logging.getLogger("refreshsts")

MfaToken = Callable[[], str]
"""Returns the 6-digit code the MFA device shows now."""

MAX_ASKS = 3
TOTP_STEP = 30.0
"""Seconds each code of a TOTP device lasts; steps start on multiples of 30 s since the epoch."""
_NEXT_STEP_MARGIN = 0.5
"""Waited past the step boundary, so a callable reading the clock is surely in the next step."""
_REUSE_SECONDS = 30.0
"""How long a code STS refused on its parameters may be sent again."""
_CODE = re.compile(r"\d{6}", re.ASCII)

_now: Callable[[], float] = time.time
_sleep: Callable[[float], None] = time.sleep

T = TypeVar("T")


class MfaCodeError(RefreshstsError):
    """The MFA callable gave no code STS could accept."""


@dataclasses.dataclass
class _Sent:
    code: str
    at: float
    """When the code was sent (wall clock, as TOTP steps are)."""
    unspent_at: float | None = None
    """When STS refused the request before checking the code, if it did."""


class _SentCodes:
    """The last code sent for each MFA device, and one lock per device."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, _Sent] = {}
        self._device_locks: dict[str, threading.Lock] = {}

    def device_lock(self, serial: str) -> threading.Lock:
        with self._lock:
            return self._device_locks.setdefault(serial, threading.Lock())

    def last(self, serial: str) -> _Sent | None:
        with self._lock:
            return self._sent.get(serial)

    def remember(self, serial: str, code: str) -> None:
        with self._lock:
            self._sent[serial] = _Sent(code, _now())

    def give_back(self, serial: str, code: str) -> None:
        """Let the next ask for `serial` send `code` again: STS never checked it."""
        with self._lock:
            sent = self._sent.get(serial)
            if sent is not None and sent.code == code:
                sent.unspent_at = _now()

    def take_unspent(self, serial: str) -> str | None:
        """The code given back for `serial` a moment ago, once; else None."""
        with self._lock:
            sent = self._sent.get(serial)
            if sent is None or sent.unspent_at is None:
                return None
            fresh = _now() - sent.unspent_at < _REUSE_SECONDS
            sent.unspent_at = None
            return sent.code if fresh else None

    def forget(self) -> None:
        with self._lock:
            self._sent.clear()

    def after_fork_in_child(self) -> None:
        """New locks: a thread that held one in the parent (inside a prompt) is gone.

        The codes the parent sent stay spent; one it gave back is the parent's retry's.
        """
        self._lock = threading.Lock()
        self._device_locks = {}
        for sent in self._sent.values():
            sent.unspent_at = None


_SENT = _SentCodes()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_SENT.after_fork_in_child)


def prompt_for_code(serial: str, *, label: str = "this hop") -> str:
    """Ask on the terminal, as the AWS CLI does; the default when no `mfa_token` is given.

    Only the main thread of a process whose stdin is a terminal asks. Anywhere else (CI,
    cron, a container, a refresh worker thread) nobody could answer, and getpass would
    warn, echo its prompt and end in an empty EOFError: fail at once instead.
    """
    if not _can_prompt():
        raise MfaCodeError(
            f"{label} needs an MFA code for {serial} and there is no terminal to ask on"
            f"{'' if _on_main_thread() else ' (refreshing on a worker thread)'}: pass "
            "mfa_token=... (a callable returning the code the device shows now)"
        )
    return getpass.getpass(f"Enter MFA code for {serial}: ")


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _can_prompt() -> bool:
    stdin = sys.stdin
    try:
        return _on_main_thread() and stdin is not None and stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def send_with_code(
    send: Callable[[Mapping[str, Any]], T],
    params: Mapping[str, Any],
    serial: str,
    mfa_token: MfaToken | None,
    *,
    label: str,
) -> T:
    """`send(params)` with the device's code as TokenCode.

    When STS refuses the parameters (a ValidationError), the code is given back, so the
    retry with a shorter DurationSeconds sends it again instead of asking for another.
    """
    code = next_code(serial, mfa_token, label=label)
    try:
        return send({**params, "TokenCode": code})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            _SENT.give_back(serial, code)
        raise


def next_code(serial: str, mfa_token: MfaToken | None, *, label: str) -> str:
    """A fresh 6-digit code for `serial` from `mfa_token`, never the one sent last.

    A code handed back by `send_with_code` is sent again without asking. When the callable
    repeats the code sent in the current TOTP step, this waits (at most one step) for the
    device's next code before asking again.
    """
    with _SENT.device_lock(serial):
        unspent = _SENT.take_unspent(serial)
        if unspent is not None:
            return unspent
        last = _SENT.last(serial)
        for _ in range(MAX_ASKS):
            code = _ask(serial, mfa_token, label=label)
            if last is None or code != last.code:
                _SENT.remember(serial, code)
                return code
            now = _now()
            if now // TOTP_STEP == last.at // TOTP_STEP:
                wait = TOTP_STEP - now % TOTP_STEP + _NEXT_STEP_MARGIN
                logger.info(
                    "%s: mfa_token returned the code already sent for %s, which AWS accepts "
                    "once; waiting %.0f s for the next code",
                    label,
                    serial,
                    wait,
                )
                _sleep(wait)
            else:
                logger.warning(
                    "%s: mfa_token returned the code already sent for %s; AWS accepts each "
                    "code once, asking again",
                    label,
                    serial,
                )
        raise MfaCodeError(
            f"{label}: mfa_token returned the code already sent for {serial} {MAX_ASKS} times; "
            "AWS accepts each code once, and the device shows a new one every 30 s: the "
            "callable must return the code shown now"
        )


def _ask(serial: str, mfa_token: MfaToken | None, *, label: str) -> str:
    """The code `mfa_token` (or the terminal) gives now, checked to be 6 digits."""
    raw = mfa_token() if mfa_token is not None else prompt_for_code(serial, label=label)
    if not isinstance(raw, str):
        raise MfaCodeError(
            f"{label}: mfa_token returned a {type(raw).__name__}, not the 6-digit code as text"
        )
    code = raw.strip()
    if not _CODE.fullmatch(code):
        raise MfaCodeError(
            f"{label}: mfa_token returned {len(code)} characters, not a 6-digit code for {serial}"
        )
    return code


def forget_codes() -> None:
    """Drop every remembered code (for tests)."""
    _SENT.forget()
