"""The container-credentials endpoint every AWS SDK reads, served from refreshing sessions.

SDKs find it through `AWS_CONTAINER_CREDENTIALS_FULL_URI` and send
`AWS_CONTAINER_AUTHORIZATION_TOKEN` as the `Authorization` header. Each GET reads the
session's credentials afresh, so the SDK gets refreshed keys whenever it asks again. The
server binds loopback addresses only and answers 403 to a request without the token. Any
local user can connect, so connections are cheap to hold and bounded (see `_HTTPServer`).
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
import re
import secrets
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote, urlsplit

from .. import ConfigurationError, RefreshableSession
from .._internal import forks
from .._internal.withheld import withheld
from ._credentials import account_of, rfc3339, role_arn_of, snapshot

__all__ = ["CredentialServer", "LoopbackEndpoint", "loopback_address"]

logger = logging.getLogger("refreshsts.cli")

ROLE_PREFIX = "/role/"


def loopback_address(host: str) -> tuple[str, socket.AddressFamily]:
    """The loopback IP to bind for `host`; anything else is a ConfigurationError."""
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ConfigurationError(
            f"--host {host!r} is not an IP address: the credential endpoint binds only to a "
            "loopback address such as 127.0.0.1 or ::1"
        ) from None
    if not ip.is_loopback:
        raise ConfigurationError(
            f"--host {host} is not a loopback address: the credential endpoint hands out keys "
            "to whoever asks with the token, so it listens only on 127.0.0.0/8 or ::1"
        )
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return str(ip), family


class LoopbackEndpoint:
    """An HTTP endpoint on a loopback address, answered by `handler` from a daemon thread.

    The connection handling (bounded connections, request heads read by a selector, one reply
    per connection, fork safety) is shared by every endpoint kind; a subclass passes its
    `handler` and holds what that handler serves, which handlers reach as `server.endpoint`.
    """

    thread_name = "refreshsts-credential-server"

    def __init__(self, handler: type[_Handler], *, host: str = "127.0.0.1", port: int = 0) -> None:
        address, family = loopback_address(host)
        self._httpd = _HTTPServer((address, port), handler, family=family, endpoint=self)
        bound = ipaddress.ip_address(str(self._httpd.server_address[0]))
        if not bound.is_loopback:  # pragma: no cover - loopback_address already refused it
            self._httpd.server_close()
            raise ConfigurationError(f"refusing to serve credentials on {bound}")
        self._thread: threading.Thread | None = None
        forks.reset_in_child(self)

    def _after_fork_in_child(self) -> None:
        """The serving thread stayed in the parent: `stop` here only closes the child's socket."""
        self._thread = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` (an IPv6 host in brackets), without a path."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self: _E) -> _E:
        """Serve from a daemon thread (for `exec` and tests)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        """Stop answering (from another thread than the serving one) and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_E = TypeVar("_E", bound=LoopbackEndpoint)


class CredentialServer(LoopbackEndpoint):
    """A threaded HTTP server handing out the credentials of named sessions.

    `default` answers at `/`, each of `roles` at `/role/NAME`. The token is random unless
    given; compare it with `hmac.compare_digest`, never log it.
    """

    def __init__(
        self,
        roles: Mapping[str, RefreshableSession] | None = None,
        *,
        default: RefreshableSession | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        loopback_address(host)
        if token is not None and (not token or any(c in token for c in "\r\n")):
            raise ConfigurationError("the authorization token must be one non-empty line")
        self.token = token or secrets.token_urlsafe(32)
        self.default = default
        self.roles = dict(roles or {})
        super().__init__(_ContainerHandler, host=host, port=port)

    def uri(self, name: str | None = None) -> str:
        """The `AWS_CONTAINER_CREDENTIALS_FULL_URI` of role `name` (the default role if None)."""
        path = "/" if name is None else ROLE_PREFIX + quote(name, safe="")
        return self.base_url + path

    def session_for(self, path: str) -> RefreshableSession | None:
        if path == "/":
            return self.default
        if path.startswith(ROLE_PREFIX):
            return self.roles.get(unquote(path[len(ROLE_PREFIX) :]))
        return None

    def authorized(self, header: str | None) -> bool:
        return header is not None and hmac.compare_digest(
            header.encode("utf-8", "surrogateescape"), self.token.encode()
        )


class _HTTPServer(socketserver.TCPServer):
    """Reads request heads in a selector and hands only whole requests to a few worker threads.

    A thread per connection let any local user pin hundreds of threads with idle sockets, and
    a worker waiting for the rest of a request let one byte per connection hold a slot. Here
    an unfinished connection (silent, or still sending its head) costs a descriptor and a
    small buffer: a silent one is closed after `idle_timeout`, a head must arrive whole within
    `read_timeout` of its first byte and within `max_head` bytes; past `max_connections` the
    oldest unfinished one is closed to admit the newcomer. Each connection gets one reply.
    """

    allow_reuse_address = False
    request_queue_size = 128
    workers = 8
    max_connections = 128
    max_head = 65536
    idle_timeout = 10.0
    read_timeout = 5.0

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[_Handler],
        *,
        family: socket.AddressFamily,
        endpoint: LoopbackEndpoint,
    ) -> None:
        self.address_family = family
        self.endpoint = endpoint
        self._handler = handler
        self._pending: dict[socket.socket, _Pending] = {}  # oldest first
        self._busy = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="refreshsts-endpoint")
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        super().__init__(address, handler)  # closes the server, pool too, when it cannot bind
        forks.reset_in_child(self, "_lock")

    def _after_fork_in_child(self) -> None:
        """No thread serves in a child: `shutdown` returns at once, `server_close` closes our copy.

        The parent's connections are closed here, never shut down, which would cut them off
        for the parent too.
        """
        pending, self._pending = self._pending, {}
        for connection in pending:
            with suppress(OSError):
                connection.close()
        self._busy = 0
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="refreshsts-endpoint")
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        self.socket.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in selector.select(poll_interval):
                        self._handle_event(selector, key.fileobj)  # type: ignore[arg-type]
                    self._expire(selector)
        finally:
            for connection in list(self._pending):
                self._pending.pop(connection)
                self.shutdown_request(connection)
            self._stopping.clear()
            self._stopped.set()

    def _handle_event(self, selector: selectors.BaseSelector, ready: socket.socket) -> None:
        if ready is self.socket:
            try:
                self._accept(selector)
            except Exception as exc:
                logger.debug("credential endpoint: %s accepting connections", type(exc).__name__)
        elif ready in self._pending:  # else closed earlier in this batch, to admit a newcomer
            self._take(selector, ready)

    def _take(self, selector: selectors.BaseSelector, connection: socket.socket) -> None:
        """Read what `connection` sent; whatever that raises costs it alone, never the loop."""
        try:
            self._read(selector, connection)
        except Exception as exc:
            logger.debug("credential endpoint: %s reading a request", type(exc).__name__)
            if connection in self._pending:
                self._drop(selector, connection)

    def shutdown(self) -> None:
        """Stop `serve_forever` (from another thread) and wait for it to return."""
        self._stopping.set()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the socket and let go of the workers without waiting for them."""
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for _ in range(self.max_connections):
            try:
                connection, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors: free the oldest unfinished one, try again later
                logger.debug("credential endpoint: accept failed", exc_info=True)
                if self._pending:
                    self._drop(selector, next(iter(self._pending)))
                return
            with self._lock:
                full = len(self._pending) + self._busy >= self.max_connections
            if full and self._pending:
                self._drop(selector, next(iter(self._pending)))
            elif full:
                self.shutdown_request(connection)
                continue
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ)
            self._pending[connection] = _Pending(address, time.monotonic() + self.idle_timeout)
            self._take(selector, connection)  # an SDK's request is often here already

    def _read(self, selector: selectors.BaseSelector, connection: socket.socket) -> None:
        """Take what has arrived; a whole head goes to a worker, a closed or oversized one away."""
        pending = self._pending[connection]
        try:
            chunk = connection.recv(self.max_head + 1 - len(pending.head))
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            self._drop(selector, connection)
            return
        if not pending.head:
            pending.deadline = time.monotonic() + self.read_timeout
        pending.head += chunk
        if not _END_OF_HEAD.search(pending.head, max(0, len(pending.head) - len(chunk) - 3)):
            if len(pending.head) > self.max_head:
                self._drop(selector, connection)
            return
        selector.unregister(connection)
        del self._pending[connection]
        with self._lock:
            self._busy += 1
        try:
            self._pool.submit(self._answer, connection, pending.address, bytes(pending.head))
        except RuntimeError:  # the pool is shut down: we are stopping
            self._finished(connection)

    def _answer(self, connection: socket.socket, address: Any, head: bytes) -> None:
        try:
            connection.settimeout(self.read_timeout)  # for writing the reply
            self._handler(connection, address, self, head)
        except Exception:
            self.handle_error(connection, address)
        finally:
            self._finished(connection)

    def _finished(self, connection: socket.socket) -> None:
        with self._lock:
            self._busy -= 1
        self.shutdown_request(connection)

    def _expire(self, selector: selectors.BaseSelector) -> None:
        """Close connections silent too long or whose head is late."""
        now = time.monotonic()
        for connection in [c for c, p in self._pending.items() if p.deadline <= now]:
            self._drop(selector, connection)

    def _drop(self, selector: selectors.BaseSelector, connection: socket.socket) -> None:
        with suppress(KeyError, ValueError):
            selector.unregister(connection)
        self._pending.pop(connection, None)
        self.shutdown_request(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("credential endpoint: error answering %s", client_address, exc_info=True)


_END_OF_HEAD = re.compile(rb"(?:^|\n)\r?\n")


class _Pending:
    """A connection whose request head is still arriving (or has not started)."""

    __slots__ = ("address", "deadline", "head")

    def __init__(self, address: Any, deadline: float) -> None:
        self.address = address
        self.deadline = deadline
        self.head = bytearray()


class _Handler(BaseHTTPRequestHandler):
    """One request of a whole head, one reply; methods not in `methods` get 405."""

    server: _HTTPServer
    server_version = "refreshsts"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    methods: tuple[str, ...] = ()

    def __init__(self, request: Any, client_address: Any, server: _HTTPServer, head: bytes) -> None:
        self.head = head
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        """Read the head the selector already received, not the socket."""
        super().setup()
        self.rfile.close()
        self.rfile = io.BytesIO(self.head)

    def handle(self) -> None:
        """One request per connection: nobody holds a worker by keeping a connection alive."""
        self.close_connection = True
        self.handle_one_request()

    def _refuse_method(self) -> None:
        allowed = " and ".join(self.methods)
        verb = "is" if len(self.methods) == 1 else "are"
        self._reply(
            405,
            {"code": "MethodNotAllowed", "message": f"only {allowed} {verb} served"},
            headers=[("Allow", ", ".join(self.methods))],
        )

    def _reply(
        self, status: int, body: Mapping[str, Any], headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        if self.command == "HEAD":
            payload = b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines go to DEBUG logging (path and status only, never headers)."""
        logger.debug("credential endpoint: " + format, *args)


for _method in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"):
    setattr(_Handler, f"do_{_method}", _Handler._refuse_method)


class _ContainerHandler(_Handler):
    """The container-credentials protocol: GET with the token in `Authorization`."""

    methods = ("GET",)

    def do_GET(self) -> None:
        endpoint = cast(CredentialServer, self.server.endpoint)
        if not endpoint.authorized(self.headers.get("Authorization")):
            self._reply(403, {"code": "AccessDenied", "message": "missing or wrong token"})
            return
        path = urlsplit(self.path).path
        session = endpoint.session_for(path)
        if session is None:
            known = ", ".join(ROLE_PREFIX + name for name in sorted(endpoint.roles)) or "none"
            self._reply(404, {"code": "NotFound", "message": f"no role at {path}; roles: {known}"})
            return
        try:
            creds = snapshot(session)
        except Exception as exc:
            safe = withheld(exc)
            logger.warning("credential endpoint: %s: %s: %s", path, type(safe).__name__, safe)
            self._reply(500, {"code": type(safe).__name__, "message": str(safe)})
            return
        body: dict[str, Any] = {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token,
        }
        if creds.expiration is not None:
            body["Expiration"] = rfc3339(creds.expiration)
        role_arn = role_arn_of(session)
        if role_arn is not None:
            body["RoleArn"] = role_arn
        account = creds.account_id or account_of(role_arn)
        if account is not None:
            body["AccountId"] = account
        self._reply(200, body)
