"""Say so when an STS request is slow, instead of leaving a waiting caller in silence.

A first attempt still unanswered after `SLOW_AFTER` seconds, and every retry with the reason
the attempt before it failed, is logged at INFO
on the `refreshsts` logger with the record attribute `notice` set, so a program (the
`refreshsts` command) can show these lines without showing every INFO line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import botocore.session

__all__ = ["NOTICE", "SLOW_AFTER", "watch"]

logger = logging.getLogger("refreshsts")

NOTICE = "notice"
"""LogRecord attribute marking a line worth showing by default (True when set)."""
SLOW_AFTER = 3.0
_TIMER = "refreshsts_slow_timer"
_WHY = "refreshsts_last_failure"


def watch(session: botocore.session.Session) -> None:
    """Log slow and retried STS requests of clients that `session` creates."""
    session.register("request-created.sts", _on_request)
    session.register("response-received.sts", _on_response)


def _attempts(context: dict[str, Any]) -> tuple[int, int | None]:
    attempt = int(context.get("retries", {}).get("attempt", 1))
    config = context.get("client_config")
    retries = getattr(config, "retries", None) or {}
    total = retries.get("total_max_attempts")
    return attempt, int(total) if total else None


def _say(url: str, attempt: int, total: int | None, why: str) -> None:
    of = f"{attempt}/{total}" if total else str(attempt)
    logger.info("waiting for STS at %s (attempt %s)%s", url, of, why, extra={NOTICE: True})


def _on_request(request: Any, **_: Any) -> None:
    context = getattr(request, "context", None)
    if not isinstance(context, dict):
        return
    attempt, total = _attempts(context)
    url = str(request.url).split("?", 1)[0]
    _cancel(context)
    if attempt > 1:
        why = context.get(_WHY)
        _say(url, attempt, total, f": attempt {attempt - 1} failed" + (f" ({why})" if why else ""))
        return
    timer = threading.Timer(SLOW_AFTER, _say, (url, attempt, total, ""))
    timer.daemon = True
    context[_TIMER] = timer
    timer.start()


def _on_response(
    context: dict[str, Any],
    exception: BaseException | None = None,
    parsed_response: Any = None,
    **_: Any,
) -> None:
    _cancel(context)
    if exception is not None:
        context[_WHY] = type(exception).__name__
    elif isinstance(parsed_response, dict) and "Error" in parsed_response:
        context[_WHY] = str(parsed_response["Error"].get("Code", ""))


def _cancel(context: dict[str, Any]) -> None:
    timer = context.pop(_TIMER, None)
    if timer is not None:
        timer.cancel()
