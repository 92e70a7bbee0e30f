"""One forced refresh and one retry when a service says the credentials have expired.

Clocks drift and credentials get revoked: a service may reject keys that refreshsts still
thinks are valid. A `needs-retry` handler then refreshes them once (unless another thread
already did since the request began) and asks botocore to resend at once, re-signed.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import RefreshError

if TYPE_CHECKING:
    from ..credentials import RefreshingCredentials

__all__ = ["EXPIRED_CODES", "register"]

logger = logging.getLogger("refreshsts")

EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
)
_STARTED = "refreshsts_started"
_RETRIED = "refreshsts_retried"


class _Handler:
    def __init__(self, credentials: RefreshingCredentials) -> None:
        self._credentials = credentials

    def before_call(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None:
            context[_STARTED] = time.time()

    def needs_retry(
        self, response: Any = None, request_dict: dict[str, Any] | None = None, **_: Any
    ) -> float | None:
        if response is None or request_dict is None:
            return None
        code = (response[1] or {}).get("Error", {}).get("Code")
        context = request_dict.setdefault("context", {})
        if code not in EXPIRED_CODES or context.get(_RETRIED):
            return None
        context[_RETRIED] = True
        creds = self._credentials
        if creds.installed_at <= context.get(_STARTED, float("inf")):
            logger.warning("%s rejected as %s; refreshing and retrying once", creds.label, code)
            try:
                creds.refresh()
            except RefreshError as exc:
                logger.warning("forced refresh of %s failed: %s", creds.label, exc)
                return None
        return 0.0


def register(botocore_session: Any, credentials: RefreshingCredentials) -> None:
    """Install the handler on `botocore_session` for clients signed by `credentials`."""
    handler = _Handler(credentials)
    botocore_session.register("before-call", handler.before_call, unique_id="refreshsts-started")
    botocore_session.register("needs-retry", handler.needs_retry, unique_id="refreshsts-expired")
