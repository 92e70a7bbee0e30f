"""One forced refresh and one retry when a service says the credentials have expired.

Clocks drift and credentials get revoked: a service may reject keys that refreshsts still
thinks are valid. A `needs-retry` handler then refreshes them once (unless another thread
already replaced the rejected keys) and asks botocore to resend at once, re-signed.

It acts only on requests signed with the keys of the credentials it watches: a client given
other keys (explicit ones, or S3 Express session keys) shares the botocore session and its
handlers, and its rejected keys say nothing about ours.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from ..errors import RefreshError

if TYPE_CHECKING:
    from ..credentials import RefreshingCredentials

__all__ = ["EXPIRED_CODES", "register", "register_async", "signing_key"]

logger = logging.getLogger("refreshsts")

EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
)
_HELD = "refreshsts_held"
_SIGNED = "refreshsts_signed"
_RETRIED = "refreshsts_retried"
_CREDENTIAL = re.compile(r"Credential=([^/,\s&]+)/")


def signing_key(request: Any) -> str | None:
    """The access key id a signed request names: its Authorization header or presigned URL."""
    value = request.headers.get("Authorization") or ""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    match = _CREDENTIAL.search(value) or _CREDENTIAL.search(
        str(request.url or "").replace("X-Amz-Credential=", "Credential=")
    )
    return match.group(1) if match else None


class _Handler:
    def __init__(self, credentials: RefreshingCredentials) -> None:
        self._credentials = credentials

    def _key_in_hand(self) -> str | None:
        current = self._credentials.credentials
        return None if current is None else current.access_key_id

    def before_call(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        if context is not None:
            context[_HELD] = self._key_in_hand()

    def before_send(self, request: Any = None, **_: Any) -> None:
        context = getattr(request, "context", None)
        if isinstance(context, dict):
            context[_SIGNED] = request  # parsed only when an ExpiredToken answer comes back

    def needs_retry(
        self, response: Any = None, request_dict: dict[str, Any] | None = None, **_: Any
    ) -> float | None:
        retry, rejected = self._verdict(response, request_dict)
        if not retry:
            return None
        if rejected is not None and not self._refresh(rejected):
            return None
        return 0.0

    def _verdict(
        self, response: Any, request_dict: dict[str, Any] | None
    ) -> tuple[bool, str | None]:
        """Whether to retry at once, and the rejected key to refresh away (None: already gone)."""
        if response is None or request_dict is None:
            return False, None
        code = (response[1] or {}).get("Error", {}).get("Code")
        context = request_dict.setdefault("context", {})
        if code not in EXPIRED_CODES or context.get(_RETRIED):
            return False, None
        signed = signing_key(context[_SIGNED]) if context.get(_SIGNED) is not None else None
        if signed is None or signed not in (context.get(_HELD), self._key_in_hand()):
            logger.debug("%s answered by a request signed with other keys: left alone", code)
            return False, None
        context[_RETRIED] = True
        # Keys, not clocks, tell whether another thread refreshed since the request was
        # signed: a wall clock set back or forward cannot fake or hide that.
        if signed != self._key_in_hand():
            return True, None
        logger.warning(
            "%s rejected as %s; refreshing and retrying once", self._credentials.label, code
        )
        return True, signed

    def _refresh(self, rejected: str) -> bool:
        try:
            self._credentials.refresh(rejected=rejected)
        except RefreshError as exc:
            logger.warning("forced refresh of %s failed: %s", self._credentials.label, exc)
            return False
        return True


class _AsyncHandler(_Handler):
    """The same for aiobotocore clients: the forced refresh runs on a worker thread."""

    async def needs_retry(  # type: ignore[override]
        self, response: Any = None, request_dict: dict[str, Any] | None = None, **_: Any
    ) -> float | None:
        retry, rejected = self._verdict(response, request_dict)
        if not retry:
            return None
        if rejected is not None and not await asyncio.to_thread(self._refresh, rejected):
            return None
        return 0.0


def register(botocore_session: Any, credentials: RefreshingCredentials) -> None:
    """Install the handler on `botocore_session` for clients signed by `credentials`."""
    _install(botocore_session, _Handler(credentials))


def register_async(aio_session: Any, credentials: RefreshingCredentials) -> None:
    """Install it on an aiobotocore session, whose emitter awaits the async retry check."""
    _install(aio_session, _AsyncHandler(credentials))


def _install(session: Any, handler: _Handler) -> None:
    session.register("before-call", handler.before_call, unique_id="refreshsts-started")
    # First, so that a stub answering before-send (moto's mock, say) cannot skip it.
    session.get_component("event_emitter").register_first(
        "before-send", handler.before_send, unique_id="refreshsts-signed"
    )
    session.register("needs-retry", handler.needs_retry, unique_id="refreshsts-expired")
