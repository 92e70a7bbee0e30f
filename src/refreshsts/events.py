"""Refresh events: what happened to a hop's credentials, for metrics and alerts.

Listeners receive a `RefreshEvent` for every refresh started, succeeded or failed. Events
carry the hop, timings and the new expiry, never a key, secret or token.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._internal import forks

__all__ = ["HopStatus", "Listeners", "RefreshEvent", "RefreshListener"]

logger = logging.getLogger("refreshsts")


@dataclass(frozen=True)
class RefreshEvent:
    """One step of a refresh of one hop's credentials."""

    kind: Literal["started", "succeeded", "failed"]
    """Which step: a refresh started, succeeded, or failed."""
    hop: int
    """1-based position of the hop in its chain."""
    label: str
    """What the hop is, e.g. ``"hop 1 of 2 (AssumeRole arn:... as app)"``."""
    window: Literal["ahead", "advisory", "mandatory", "forced"]
    """Why the refresh ran: scheduled ahead of time, in a window, or forced by an error."""
    latency: float | None = None
    """Seconds the fetch took (succeeded and failed events)."""
    expiration: _dt.datetime | None = None
    """Expiry of the credentials in hand after the event."""
    error: str | None = None
    """The failure's type and message (failed events)."""


RefreshListener = Callable[[RefreshEvent], None]
"""Called with each RefreshEvent, on the thread doing the refresh: keep it quick."""


class Listeners:
    """A thread-safe list of listeners; one that raises is logged and does not stop others."""

    def __init__(self) -> None:
        self._listeners: tuple[RefreshListener, ...] = ()
        self._lock = threading.Lock()
        forks.reset_in_child(self, "_lock")

    def add(self, listener: RefreshListener) -> Callable[[], None]:
        """Subscribe `listener`; returns a function that unsubscribes it."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def emit(self, event: RefreshEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("refresh listener %r failed on a %s event", listener, event.kind)

    def __bool__(self) -> bool:
        return bool(self._listeners)


@dataclass(frozen=True)
class HopStatus:
    """A snapshot of one hop's credentials: expiry and counts, never secrets."""

    hop: int
    """1-based position of the hop in its chain."""
    label: str
    """What the hop is, as in RefreshEvent.label."""
    expiration: _dt.datetime | None
    """Expiry of the credentials in hand, or None before the first fetch."""
    seconds_left: float | None
    """Seconds until that expiry, or None before the first fetch."""
    refresh_count: int
    """Successful refreshes so far."""
    failure_count: int
    """Failed fetches so far."""
    last_error: str | None
    """The latest failure's type and message, or None."""
    next_attempt_in: float | None
    """Seconds until a backed-off refresh may be tried again, when one failed."""
