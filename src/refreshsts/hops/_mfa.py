"""MFA codes: asked for only when STS is called, and never the same code twice.

AWS accepts each code of a device once, so the last code sent is remembered per device
(process-wide); a callable that hands it out again is asked again, a bounded number of times.
"""

from __future__ import annotations

import getpass
import logging
import re
import threading
from collections.abc import Callable

from ..errors import RefreshstsError

__all__ = ["MAX_ASKS", "MfaCodeError", "MfaToken", "next_code", "prompt_for_code"]

logger = logging.getLogger("refreshsts")

MfaToken = Callable[[], str]
"""Returns the 6-digit code the MFA device shows now."""

MAX_ASKS = 3
_CODE = re.compile(r"\d{6}", re.ASCII)


class MfaCodeError(RefreshstsError):
    """The MFA callable gave no code STS could accept."""


class _SentCodes:
    """The last code sent for each MFA device, and one lock per device."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}
        self._device_locks: dict[str, threading.Lock] = {}

    def device_lock(self, serial: str) -> threading.Lock:
        with self._lock:
            return self._device_locks.setdefault(serial, threading.Lock())

    def last(self, serial: str) -> str | None:
        with self._lock:
            return self._last.get(serial)

    def remember(self, serial: str, code: str) -> None:
        with self._lock:
            self._last[serial] = code


_SENT = _SentCodes()


def prompt_for_code(serial: str) -> str:
    """Ask on the terminal, as the AWS CLI does; the default when no `mfa_token` is given."""
    return getpass.getpass(f"Enter MFA code for {serial}: ")


def next_code(serial: str, mfa_token: MfaToken | None, *, label: str) -> str:
    """A fresh 6-digit code for `serial` from `mfa_token`, never the one sent last."""
    with _SENT.device_lock(serial):
        last = _SENT.last(serial)
        for _ in range(MAX_ASKS):
            raw = mfa_token() if mfa_token is not None else prompt_for_code(serial)
            if not isinstance(raw, str):
                raise MfaCodeError(
                    f"{label}: mfa_token returned a {type(raw).__name__}, not the 6-digit code "
                    "as text"
                )
            code = raw.strip()
            if not _CODE.fullmatch(code):
                raise MfaCodeError(
                    f"{label}: mfa_token returned {len(code)} characters, not a 6-digit code "
                    f"for {serial}"
                )
            if code != last:
                _SENT.remember(serial, code)
                return code
            logger.warning(
                "%s: mfa_token returned the code already sent for %s; AWS accepts each code "
                "once, asking again",
                label,
                serial,
            )
        raise MfaCodeError(
            f"{label}: mfa_token returned the code already sent for {serial} {MAX_ASKS} times; "
            "AWS accepts each code once: wait for the device to show the next code"
        )


def forget_codes() -> None:
    """Drop every remembered code (for tests)."""
    with _SENT._lock:
        _SENT._last.clear()
