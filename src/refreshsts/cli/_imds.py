"""An IMDSv2 endpoint for tools that read credentials only from EC2 instance metadata.

SDKs find it through `AWS_EC2_METADATA_SERVICE_ENDPOINT`: a token PUT to `/latest/api/token`,
then GETs with that token of the role name and its credentials under
`/latest/meta-data/iam/security-credentials/` (or `...-extended/`, which adds AccountId), and
of `/latest/meta-data/placement/...` for the region. IMDSv1 (a GET without a token) is
refused: a server tricked into fetching a URL (SSRF) can send a GET but rarely a PUT with a
custom header first.

No SDK can send the `serve` authorization token here, so any local process that can reach
the port can read the credentials; what stands between them and a browser or a forwarded
request is the token PUT, the loopback-only Host, the refusal of what proxies add
(`X-Forwarded-For`, `Forwarded`, `Via`, `X-Forwarded-Host`) and of `Origin`, and a hop limit
of 1 on every reply.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from email.message import Message
from typing import cast
from urllib.parse import unquote, urlsplit

from .. import ConfigurationError, RefreshableSession
from .._internal.withheld import withheld
from ._credentials import account_of, rfc3339, role_arn_of, snapshot
from ._server import LoopbackEndpoint, _Handler

__all__ = ["ImdsServer", "SessionTokens", "role_name_of"]

logger = logging.getLogger("refreshsts.cli")

TOKEN_PATH = "/latest/api/token"  # noqa: S105 - a path
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"  # noqa: S105 - a header name
MAX_TTL = 21600
CREDENTIALS = "/latest/meta-data/iam/security-credentials"
EXTENDED = "/latest/meta-data/iam/security-credentials-extended"
REGION = "/latest/meta-data/placement/region"
ZONE = "/latest/meta-data/placement/availability-zone"
IDENTITY = "/latest/dynamic/instance-identity/document"
REFUSED_HEADERS = ("X-Forwarded-For", "Forwarded", "Via", "X-Forwarded-Host", "Origin")
"""A proxy forwarding a request adds the first, a browser sending a PUT the second; an SDK
sends neither. Real IMDS refuses the first for the same reason."""

_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_TEXT = "text/plain"
_JSON = "application/json"


def role_name_of(session: RefreshableSession) -> str | None:
    """The IAM role name of the session's last hop (`arn:...:role/path/NAME` gives NAME)."""
    arn = role_arn_of(session)
    if arn is None or ":role/" not in arn:
        return None
    return arn.rsplit("/", 1)[-1] or None


class SessionTokens:
    """IMDSv2 session tokens: random, and an HMAC of their expiry under a per-process key.

    Nothing is stored per token, so a local process asking for millions costs no memory. The
    expiry is on the monotonic clock: a wall-clock jump neither revives nor kills a token.
    """

    _NONCE = 16
    _MAC = 32

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, ttl: int) -> str:
        """A token valid for `ttl` seconds."""
        expires = time.monotonic_ns() + ttl * 1_000_000_000
        body = secrets.token_bytes(self._NONCE) + expires.to_bytes(8, "big")
        return base64.urlsafe_b64encode(body + self._mac(body)).decode("ascii")

    def valid(self, token: str | None) -> bool:
        """Whether `token` was issued here and has not expired."""
        if not token or len(token) > 96:
            return False
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return False
        if base64.urlsafe_b64encode(raw) != token.encode("ascii"):
            return False  # the decoder skips what follows padding: only the issued text counts
        body, mac = raw[: -self._MAC], raw[-self._MAC :]
        if len(body) != self._NONCE + 8 or not hmac.compare_digest(mac, self._mac(body)):
            return False
        return int.from_bytes(body[self._NONCE :], "big") > time.monotonic_ns()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()


@dataclass(frozen=True)
class Reply:
    """What the IMDS endpoint answers: status, body, its type and extra headers."""

    status: int
    body: str
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = field(default=())


class ImdsServer(LoopbackEndpoint):
    """IMDSv2 on a loopback port, serving one session's credentials as an instance role's.

    `role_name` defaults to the name in the last hop's role ARN; `region` to the session's.
    """

    thread_name = "refreshsts-imds"

    def __init__(
        self,
        session: RefreshableSession,
        *,
        role_name: str | None = None,
        region: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        name = role_name if role_name is not None else role_name_of(session)
        if name is None:
            raise ConfigurationError(
                "--imds needs a role name: the last hop assumes no role, so give "
                "--imds-role-name NAME"
            )
        if not _ROLE_NAME.fullmatch(name):
            raise ConfigurationError(
                f"--imds-role-name {name!r} is not an IAM role name: 1 to 64 letters, digits "
                "and +=,.@_-"
            )
        self.session = session
        self.role_name = name
        self.region = region if region is not None else session.region_name
        self.tokens = SessionTokens()
        super().__init__(_ImdsHandler, host=host, port=port)

    @property
    def endpoint_url(self) -> str:
        """The `AWS_EC2_METADATA_SERVICE_ENDPOINT` value."""
        return self.base_url + "/"

    def answer(self, method: str, target: str, headers: Message) -> Reply:
        """The reply to one request, whatever its method, target and headers."""
        refused = next((name for name in REFUSED_HEADERS if name in headers), None)
        if refused is not None:
            return Reply(403, f"Forbidden: requests with {refused} are refused")
        if not _loopback_host(headers.get("Host")):
            return Reply(403, "Forbidden: the Host header must name a loopback address")
        path = unquote(urlsplit(target).path)
        if method == "PUT":
            if path != TOKEN_PATH:
                return Reply(405, "Method Not Allowed: PUT is for " + TOKEN_PATH, headers=_ALLOW)
            return self._token(headers.get(TTL_HEADER))
        if not self.tokens.valid(headers.get(TOKEN_HEADER)):
            return Reply(401, f"Unauthorized: IMDSv2 only, PUT {TOKEN_PATH} for a token first")
        if path == TOKEN_PATH:
            return Reply(405, "Method Not Allowed: PUT for a token", headers=_ALLOW)
        return self._metadata(path.rstrip("/"))

    def _token(self, ttl_header: str | None) -> Reply:
        try:
            ttl = int(ttl_header or "")
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= MAX_TTL:
            return Reply(
                400, f"Bad Request: {TTL_HEADER} must be a whole number of seconds, 1 to {MAX_TTL}"
            )
        return Reply(200, self.tokens.issue(ttl), headers=((TTL_HEADER, str(ttl)),))

    def _metadata(self, path: str) -> Reply:
        if path in (CREDENTIALS, EXTENDED):
            return Reply(200, self.role_name)
        for base in (CREDENTIALS, EXTENDED):
            if path == f"{base}/{self.role_name}":
                return self._credentials(extended=base == EXTENDED)
        if self.region is not None:
            zone = self.region + "a"  # no instance, no zone: botocore takes the region off one
            if path == REGION:
                return Reply(200, self.region)
            if path == ZONE:
                return Reply(200, zone)
            if path == IDENTITY:
                document = {"region": self.region, "availabilityZone": zone}
                account = account_of(role_arn_of(self.session))
                if account is not None:
                    document["accountId"] = account
                return Reply(200, json.dumps(document), _JSON)
        return Reply(404, "Not Found")

    def _credentials(self, *, extended: bool) -> Reply:
        """The role's credentials as IMDS gives them, or a Code other than Success.

        IMDS answers a failure with 200 and a Code: SDKs stop there instead of retrying.
        """
        try:
            creds = snapshot(self.session)
            now = _dt.datetime.now(_dt.timezone.utc)
            if creds.expiration is None or creds.expiration <= now:
                raise CredentialsExpired("the credentials in hand have no expiry ahead")
        except Exception as exc:
            now = _dt.datetime.now(_dt.timezone.utc)
            safe = withheld(exc)
            logger.warning("IMDS endpoint: %s: %s", type(safe).__name__, safe)
            failure = {"Code": type(safe).__name__, "Message": str(safe)}
            return Reply(200, json.dumps({**failure, "LastUpdated": rfc3339(now)}), _JSON)
        body = {
            "Code": "Success",
            "LastUpdated": rfc3339(now),
            "Type": "AWS-HMAC",
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token,
            "Expiration": _expiration(creds.expiration),
        }
        if extended:
            account = creds.account_id or account_of(role_arn_of(self.session))
            if account is not None:
                body["AccountId"] = account
        return Reply(200, json.dumps(body), _JSON)


def _expiration(moment: _dt.datetime) -> str:
    """`2024-05-01T12:00:00.000Z`: the real expiry, with milliseconds as S3 timestamps have.

    botocore stretches an Expiration written as IMDS writes it (no fraction) that is less than
    15 + 2..10 min away to that far from now, to ride out an unreachable IMDS; it then keeps
    keys for up to 10 min without asking again. STS session keys die at Expiration, so with
    15-minute (or shorter) keys it would sign with dead ones. botocore does not recognise this
    form for stretching, and every SDK parses it as it parses S3's timestamps.
    """
    return rfc3339(moment).replace("Z", ".000Z")


class CredentialsExpired(Exception):
    """The session handed out keys without an expiry ahead: never served as an instance role's."""


_ALLOW = (("Allow", "GET, PUT"),)


def _loopback_host(host: str | None) -> bool:
    """Whether a Host header names a loopback address (or localhost), port or not.

    A browser reaching the port through a rebound DNS name sends that name: refusing every
    name but `localhost` keeps web pages out, where real IMDS relies on its link-local address.
    """
    if not host:
        return False
    name = host.strip()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else ""
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _ImdsHandler(_Handler):
    methods = ("GET", "PUT")

    def setup(self) -> None:
        """A hop limit of 1 on replies, as IMDS sets: a reply routed any further is dropped."""
        super().setup()
        family = self.connection.family
        level, option = (
            (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)
            if family == socket.AF_INET6
            else (socket.IPPROTO_IP, socket.IP_TTL)
        )
        self.connection.setsockopt(level, option, 1)

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler names it
        endpoint = cast(ImdsServer, self.server.endpoint)
        reply = endpoint.answer(self.command, self.path, self.headers)
        self._send(reply.status, reply.body.encode(), reply.content_type, reply.headers)

    def do_PUT(self) -> None:  # noqa: N802
        self.do_GET()
