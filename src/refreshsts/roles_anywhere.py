"""RolesAnywhere: an IAM role session for an X.509 certificate, from IAM Roles Anywhere.

IAM Roles Anywhere's CreateSession trades a request signed with a certificate's private key
for a role session. The source puts that call in front of the chain as its first hop
(`leading_hops`), so its credentials are refreshed and cached like every hop's: the cache
key holds digests of the certificates and a proof only the key's holder can make, never the
key. Certificate, chain and key given as paths are read afresh at every refresh, since tools
such as cert-manager rewrite them in place.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Union

from botocore import UNSIGNED
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    ReadTimeoutError,
    UnknownServiceError,
)
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

from ._internal import forks
from ._internal.botocore_sessions import new_botocore_session
from ._internal.bounded_read import BodyTooSlow, read_within
from ._internal.urls import is_http_url
from ._regions import check_region
from ._temporary import TemporaryCredentials
from .caches import NoCache
from .credentials import RefreshingCredentials
from .durations import MAX, DurationLike, DurationLimits, parse_duration
from .errors import ConfigurationError
from .hops import Hop
from .hops import _validate as check
from .hops._base import Duration, SourceHop, check_range
from .sources import EndpointSource

if TYPE_CHECKING:
    from ._internal.x509_signer import Material

__all__ = ["RolesAnywhere"]

logger = logging.getLogger("refreshsts")

PathOrPem = Union[str, bytes, "os.PathLike[str]"]
"""A file's path, or the PEM itself as bytes or text (text starting with ``-----BEGIN``)."""

_RESOURCE_ARN = (
    r"arn:(aws[a-z-]*):rolesanywhere:([a-z0-9-]+):(\d{12}):{kind}/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_SESSION_LIMIT_NOTE = (
    "a Roles Anywhere session lasts at most 12h; the profile's durationSeconds may end it sooner"
)
LIMITS = DurationLimits(900, 43200, 3600, _SESSION_LIMIT_NOTE)
"""CreateSession's durationSeconds: 15 min to 12 h, 1 h when not sent."""
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_MESSAGE = 500
_WHERE = "RolesAnywhere"


def _signer() -> Any:
    """The signing module, which needs `cryptography`; a ConfigurationError names the extra."""
    try:
        return importlib.import_module(f"{__package__}._internal.x509_signer")
    except ImportError:
        raise ConfigurationError(
            "RolesAnywhere needs the 'cryptography' package to sign with the certificate's key: "
            "pip install 'refreshsts[rolesanywhere]'"
        ) from None


_PATH_MAX = 4096
_MAX_ANSWER = 64 * 1024
"""A CreateSession answer is a few KiB; a longer one is no Roles Anywhere endpoint."""
_CERTIFICATE_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.S
)


@dataclass(frozen=True)
class _Pem:
    """A certificate or key given as a path (read at every use) or as its bytes (held)."""

    name: str
    path: str | None
    data: bytes | None = field(repr=False)

    @classmethod
    def of(cls, name: str, value: object) -> _Pem:
        if isinstance(value, os.PathLike):
            value = os.fsdecode(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            if not value:
                raise ConfigurationError(f"{_WHERE}: {name} is empty")
            return cls(name, None, cls._held(name, bytes(value)))
        if isinstance(value, str) and value.strip():
            # Key text that is no PEM (openssl pkcs12 output, bare base64) must never be
            # taken for a path: an error would then quote it.
            if "-----BEGIN" in value or "\n" in value or len(value) > _PATH_MAX:
                return cls(name, None, cls._held(name, value.encode()))
            return cls(name, value, None)
        raise ConfigurationError(
            f"{_WHERE}: {name} must be a file's path (text or a pathlib.Path) or the PEM itself "
            f"(bytes, or text starting with '-----BEGIN'), not {_shown(name, value)}"
        )

    @staticmethod
    def _held(name: str, data: bytes) -> bytes:
        """What to hold of `data`: for certificates only their blocks, never a key beside them.

        A combined PEM (certificate and key in one) given as `certificate=` would otherwise
        travel in pickles, which carry certificates.
        """
        if name == "private_key":
            return data
        blocks = _CERTIFICATE_BLOCK.findall(data)
        return b"\n".join(blocks) + b"\n" if blocks else data

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            with open(self.path, "rb") as file:
                return file.read()
        except OSError as exc:
            # A private_key that was meant as key text must not be quoted back.
            shown = (
                f"at the path given ({len(self.path)} characters)"
                if self.name == "private_key"
                else repr(self.path)
            )
            raise ConfigurationError(
                f"{_WHERE}: {self.name} file {shown} could not be read: "
                f"{exc.strerror or type(exc).__name__}; PEM given as text must contain "
                "'-----BEGIN'"
            ) from None

    def describe(self, serial: str) -> str:
        """The path, or for PEM held in memory the certificate's serial number."""
        return repr(self.path) if self.path is not None else f"<PEM, serial {serial}>"

    def recipe(self) -> str | bytes:
        return self.path if self.path is not None else self.data  # type: ignore[return-value]


class RolesAnywhere(EndpointSource):
    """An IAM role session from IAM Roles Anywhere, for an X.509 certificate and its key.

    Each refresh sends CreateSession to ``https://rolesanywhere.REGION.amazonaws.com``,
    signed with the private key (``AWS4-X509-RSA-SHA256`` for RSA keys,
    ``AWS4-X509-ECDSA-SHA256`` for EC keys). RefreshableSession makes that call the first hop
    of its chain, so the session is refreshed and cached like any hop; with no hops of its
    own the session uses the Roles Anywhere role itself. The credentials are a role session,
    so an AssumeRole after this source is role chaining: at most 1 h.

    Paths are read afresh at every refresh, so a certificate renewed in place (cert-manager,
    an ACM PCA agent) is used from the next refresh on. The endpoint is `endpoint_url`, else
    ``AWS_ENDPOINT_URL_ROLESANYWHERE`` or ``AWS_ENDPOINT_URL`` (as botocore resolves them),
    else the region's. Needs the ``rolesanywhere`` extra (`cryptography`).

    Args:
        certificate: The end-entity certificate: a path, or the PEM as bytes or text.
        private_key: Its unencrypted private key (RSA or EC): a path, or the PEM. Given as
            bytes or text, the source holds the key and refuses to pickle.
        trust_anchor_arn: ``arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/UUID``.
        profile_arn: ``arn:aws:rolesanywhere:REGION:ACCOUNT:profile/UUID``, same region.
        role_arn: The role to assume, one the profile lists.
        duration: How long each session lasts, 15 min to 12 h, or ``"max"``; by default
            the session's `duration=`, else the service's 1 h.
        certificate_chain: Intermediate CA certificates (a PEM bundle, path or bytes),
            sent in ``X-Amz-X509-Chain``; by default those following the first certificate
            in `certificate` (as in cert-manager's ``tls.crt``).
        session_name: roleSessionName, 2 to 64 of ``\\w+=,.@-``; the profile must accept
            role session names.
        region: The trust anchor's region, which is the default.
        endpoint_url: A Roles Anywhere endpoint to use instead of AWS's.
        timeout: Seconds per request, above 0 and at most 60.
        attempts: Tries per refresh on connection errors, throttling and 5xx, 1 to 10.

    Raises:
        ConfigurationError: An ARN is malformed or the ARNs disagree, a file cannot be read,
            the key is not the certificate's or of a type Roles Anywhere cannot use, the
            certificate is expired or not valid yet, `duration` is out of range, or
            `cryptography` is not installed. All before any network call.
    """

    def __init__(
        self,
        certificate: PathOrPem,
        private_key: PathOrPem,
        trust_anchor_arn: str,
        profile_arn: str,
        role_arn: str,
        *,
        duration: DurationLike | None = None,
        certificate_chain: PathOrPem | None = None,
        session_name: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = 5.0,
        attempts: int = 3,
    ) -> None:
        self._signing = _signer()
        anchor = _resource_arn("trust_anchor_arn", trust_anchor_arn, "trust-anchor")
        profile = _resource_arn("profile_arn", profile_arn, "profile")
        if anchor[:3] != profile[:3]:
            raise ConfigurationError(
                f"{_WHERE}: trust_anchor_arn and profile_arn must be in one partition, region "
                f"and account; got {':'.join(anchor[:3])} and {':'.join(profile[:3])}"
            )
        self.role_arn = check.role_arn(_WHERE, role_arn)
        if role_arn.split(":")[1] != anchor[0]:
            raise ConfigurationError(
                f"{_WHERE}: role_arn={role_arn!r} is in partition {role_arn.split(':')[1]!r}, "
                f"the trust anchor in {anchor[0]!r}"
            )
        self.trust_anchor_arn = trust_anchor_arn
        self.profile_arn = profile_arn
        if region is not None and region != anchor[1]:
            check_region(region)
            raise ConfigurationError(
                f"{_WHERE}: region={region!r}, but the trust anchor and profile are in "
                f"{anchor[1]!r}, where CreateSession must be sent; leave region= out"
            )
        self._region = check_region(anchor[1], name="the trust anchor's region")
        if endpoint_url is not None and not is_http_url(endpoint_url):
            raise ConfigurationError(
                f"{_WHERE}: endpoint_url={endpoint_url!r} is not an http(s) URL"
            )
        self.endpoint_url = endpoint_url
        self.session_name = check.session_name(_WHERE, session_name)
        self._certificate = _Pem.of("certificate", certificate)
        self._private_key = _Pem.of("private_key", private_key)
        self._chain = (
            None if certificate_chain is None else _Pem.of("certificate_chain", certificate_chain)
        )
        self.duration = _duration(duration)
        self._parsed: tuple[bytes, Material] | None = None
        """The last material read, by a digest of its files' bytes: parsed once per rotation."""
        serial = self._material().serial  # every check of the files, before any call
        super().__init__(
            timeout=timeout,
            attempts=attempts,
            label=f"IAM Roles Anywhere ({self.role_arn})",
            role_session=f"an IAM Roles Anywhere session of {self.role_arn}",
            picklable=self._private_key.path is not None,
            why_not_picklable=(
                "this RefreshableSession's source is RolesAnywhere holding a private key, which "
                "a pickle would have to carry; pass private_key= as a path instead"
            ),
        )
        self._serial = serial
        self._endpoint: str | None = None
        self._endpoint_lock = threading.Lock()
        forks.reset_in_child(self, "_lock", "_creds_lock", "_endpoint_lock")
        self._hop = _CreateSession(self, self.duration)

    def leading_hops(self) -> tuple[Hop, ...]:
        """CreateSession, the hop RefreshableSession puts before the hops it is given.

        Returns:
            The one CreateSession hop of this source.
        """
        return (self._hop,)

    @property
    def region(self) -> str:
        """The trust anchor's region, where CreateSession is sent."""
        return self._region

    def _material(self) -> Material:
        """Certificate, chain and key, read now (paths afresh) and checked to belong together.

        The files are read every time; they are parsed again only when their bytes change.

        Raises:
            ConfigurationError: A file cannot be read or parsed, the key is not the
                certificate's, or the certificate is outside its validity period.
        """
        data = self._certificate.read()
        chain_data = None if self._chain is None else self._chain.read()
        key_data = self._private_key.read()
        digest = hashlib.sha256()
        for part in (data, chain_data or b"", key_data):
            digest.update(hashlib.sha256(part).digest())
        parsed = self._parsed
        if parsed is None or parsed[0] != digest.digest():
            parsed = (digest.digest(), self._parse(data, chain_data, key_data))
            self._parsed = parsed
        return parsed[1].check(_WHERE, _dt.datetime.now(_dt.timezone.utc))

    def _parse(self, data: bytes, chain_data: bytes | None, key_data: bytes) -> Material:
        """The material in these bytes; parsing an RSA key costs 0.1-0.5 s (OpenSSL checks it)."""
        signing = self._signing
        certificate = signing.load_certificate(_WHERE, "certificate", data)
        if chain_data is not None:
            chain = signing.load_chain(_WHERE, "certificate_chain", chain_data)
        else:
            chain = signing.bundled_chain(data)
        key = signing.load_private_key(_WHERE, "private_key", key_data)
        material: Material = signing.Material(certificate, chain, key)
        return material

    def endpoint(self) -> str:
        """The Roles Anywhere endpoint: `endpoint_url`, else as botocore resolves it.

        Returns:
            The endpoint's URL, without the ``/sessions`` path.
        """
        if self.endpoint_url is not None:
            return self.endpoint_url
        with self._endpoint_lock:
            if self._endpoint is None:
                self._endpoint = _resolve_endpoint(self._region)
            return self._endpoint

    def _create_session(self, duration: int | None) -> TemporaryCredentials:
        """Call CreateSession once (retrying transient failures) and return its credentials.

        Raises:
            ClientError: Roles Anywhere refused the request (its code, e.g.
                AccessDeniedException, and message).
            ConfigurationError: The files no longer hold a usable certificate and key.
        """
        body = json.dumps(self._hop.request(duration=duration), separators=(",", ":")).encode()
        url = self.endpoint().rstrip("/") + "/sessions"
        material = self._material()
        for attempt in range(1, self.attempts + 1):
            headers = material.sign_request(
                url=url, region=self._region, body=body, now=_dt.datetime.now(_dt.timezone.utc)
            )
            issued = time.time()
            try:
                status, data, answer_headers = _post(url, headers, body, self.timeout)
            except HTTPClientError:
                if attempt == self.attempts:
                    raise
                _pause(attempt)
                continue
            if 200 <= status < 300:
                return _credentials(data, issued)
            error = _client_error(status, data, answer_headers)
            if status not in _RETRIED_STATUS or attempt == self.attempts:
                raise error
            logger.debug("%s: CreateSession answered %s; trying again", self.label, status)
            _pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def credentials(self) -> Credentials:
        """The role session, for callers that ask the source itself (AccountRoles).

        They refresh themselves but are not cached; RefreshableSession does not ask, since
        its chain holds CreateSession as a cached hop.

        Returns:
            Refreshing botocore credentials of the Roles Anywhere role.

        Raises:
            RefreshError: CreateSession failed and no valid credentials are left.
        """
        return super().credentials()

    def _load(self) -> Credentials:
        duration = (
            self._hop.limits(chained=False).maximum if self.duration == MAX else self.duration
        )
        return RefreshingCredentials(
            lambda: self._create_session(duration if isinstance(duration, int) else None),
            cache=NoCache(),
            cache_key=lambda: "0" * 64,
            label=self.label,
            hop=0,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        self.recipe()  # refuses when holding a key
        return (
            _rebuild,
            (
                {
                    "certificate": self._certificate.recipe(),
                    "private_key": self._private_key.recipe(),
                    "trust_anchor_arn": self.trust_anchor_arn,
                    "profile_arn": self.profile_arn,
                    "role_arn": self.role_arn,
                    "duration": self.duration,
                    "certificate_chain": None if self._chain is None else self._chain.recipe(),
                    "session_name": self.session_name,
                    "endpoint_url": self.endpoint_url,
                    "timeout": self.timeout,
                    "attempts": self.attempts,
                },
            ),
        )

    def __repr__(self) -> str:
        key = repr(self._private_key.path) if self._private_key.path else "<withheld>"
        return (
            f"RolesAnywhere(role_arn={self.role_arn!r}, profile_arn={self.profile_arn!r}, "
            f"trust_anchor_arn={self.trust_anchor_arn!r}, "
            f"certificate={self._certificate.describe(self._serial)}, private_key={key})"
        )


@dataclass(frozen=True, eq=False)
class _CreateSession(SourceHop):
    """CreateSession as the first hop of a chain: signed by the certificate's key, not AWS keys."""

    source: RolesAnywhere = field(repr=False)
    duration: Duration = None

    operation: ClassVar[str] = "CreateSession"
    returns_role_session: ClassVar[bool] = True
    chains_assume_role: ClassVar[bool] = True
    chaining_note: ClassVar[str] = "IAM Roles Anywhere hands out a role session"

    def limits(self, *, chained: bool) -> DurationLimits:
        del chained
        return LIMITS

    @property
    def label(self) -> str:
        """What the hop is, for logs and errors: the role and where the certificate is."""
        return (
            f"IAM Roles Anywhere CreateSession {self.source.role_arn} with certificate "
            f"{self.source._certificate.describe(self.source._serial)}"
        )

    def request(self, *, duration: int | None) -> dict[str, Any]:
        """The JSON body: what to assume and how long; the proof goes in the headers."""
        body: dict[str, Any] = {
            "trustAnchorArn": self.source.trust_anchor_arn,
            "profileArn": self.source.profile_arn,
            "roleArn": self.source.role_arn,
        }
        if duration is not None:
            body["durationSeconds"] = duration
        if self.source.session_name is not None:
            body["roleSessionName"] = self.source.session_name
        return body

    def cache_fields(self) -> Mapping[str, Any]:
        """The request, the endpoint, and digests of the proof read from the files now."""
        return {
            **self.request(duration=None),
            "endpoint": self.source.endpoint(),
            **self.source._material().fingerprint,
        }

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """CreateSession, sent by the source; `client` is None (no STS client is built)."""
        del client
        return self.source._create_session(duration)

    def step_down(self, error: ClientError, requested: int, *, chained: bool) -> int | None:
        """1 h when Roles Anywhere refuses `requested` as longer than it allows."""
        err = error.response.get("Error", {})
        if err.get("Code") != "ValidationException" or requested <= 3600:
            return None
        return 3600 if "duration" in str(err.get("Message", "")).lower() else None


def _resource_arn(name: str, value: object, kind: str) -> tuple[str, str, str, str]:
    """(partition, region, account, id) of a Roles Anywhere `kind` ARN."""
    pattern = re.compile(_RESOURCE_ARN.replace("{kind}", kind), re.ASCII)
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigurationError(
            f"{_WHERE}: {name}={_shown(name, value)} is not a {kind} ARN: expected "
            f"'arn:aws:rolesanywhere:<region>:<12-digit account>:{kind}/<UUID>'"
        )
    partition, region, account, uuid = match.groups()
    return partition, region, account, uuid


def _duration(value: DurationLike | None) -> Duration:
    if value is None:
        return None
    try:
        parsed = parse_duration(value, limits=LIMITS)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{_WHERE}: {exc}") from None
    if parsed != MAX:
        check_range(_WHERE, parsed, LIMITS)
    return parsed


def _shown(name: str, value: object) -> str:
    """`value` for an error message: a key's never, others shortened."""
    if name == "private_key" or not isinstance(value, str):
        return type(value).__name__
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _resolve_endpoint(region: str) -> str:
    """The endpoint botocore would use for Roles Anywhere in `region`.

    It honours AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL and the config file's
    endpoint settings, and knows each partition's domain.
    """
    try:
        client = new_botocore_session().create_client(
            "rolesanywhere", region_name=region, config=Config(signature_version=UNSIGNED)
        )
    except UnknownServiceError:  # pragma: no cover - botocore before Roles Anywhere (2022)
        return f"https://rolesanywhere.{region}.amazonaws.com"
    try:
        return str(client.meta.endpoint_url)
    finally:
        client.close()


def _post(
    url: str, headers: Mapping[str, str], body: bytes, timeout: float
) -> tuple[int, bytes, Mapping[str, str]]:
    """POST over botocore's HTTP stack: its CA bundle, the environment's proxies."""
    verify = new_botocore_session().get_config_variable("ca_bundle") or True
    http = URLLib3Session(verify=verify, proxies=get_environ_proxies(url), timeout=timeout)
    try:
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
        request.stream_output = True
        deadline = time.monotonic() + 2 * timeout
        response = http.send(request.prepare())
        raw = response.raw
        read = getattr(raw, "read1", None) or raw.read  # read1: urllib3 2
        try:
            data = read_within(read, deadline=deadline, limit=_MAX_ANSWER)
        except BodyTooSlow as exc:
            raise ReadTimeoutError(endpoint_url=url, error=exc) from None
        return int(response.status_code), data, dict(response.headers)
    finally:
        http.close()


def _pause(attempt: int) -> None:
    time.sleep(min(0.1 * 2**attempt, 2.0) * (0.5 + random.random()))


def _credentials(data: bytes, issued: float) -> TemporaryCredentials:
    """The first credential set of a CreateSession answer; its body never enters an error."""
    try:
        answer = json.loads(data)
        entry = answer["credentialSet"][0]
        creds = entry["credentials"]
        expiration = _dt.datetime.fromisoformat(str(creds["expiration"]).replace("Z", "+00:00"))
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=_dt.timezone.utc)
        return TemporaryCredentials(
            access_key_id=str(creds["accessKeyId"]),
            secret_access_key=str(creds["secretAccessKey"]),
            session_token=str(creds["sessionToken"]),
            expiration=expiration.timestamp(),
            issued=issued,
            arn=(entry.get("assumedRoleUser") or {}).get("arn"),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        pass
    raise ValueError(
        "CreateSession answered success with a body that holds no credential set; the body is "
        "withheld, since it may hold credentials"
    )


def _client_error(status: int, data: bytes, headers: Mapping[str, str]) -> ClientError:
    """A botocore ClientError for a refusal, coded as Roles Anywhere codes it."""
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    lowered = {name.lower(): value for name, value in headers.items()}
    code = (
        str(lowered.get("x-amzn-errortype") or answer.get("__type") or answer.get("code") or "")
        .split(":")[0]
        .split("#")[-1]
    )
    if not code:
        code = {
            403: "AccessDeniedException",
            404: "ResourceNotFoundException",
            429: "ThrottlingException",
        }.get(status, "ValidationException" if status < 500 else "InternalServerException")
    message = str(answer.get("message") or answer.get("Message") or f"HTTP {status}")
    return ClientError(
        {
            "Error": {"Code": code, "Message": message[:_MAX_MESSAGE]},
            "ResponseMetadata": {
                "HTTPStatusCode": status,
                "RequestId": lowered.get("x-amzn-requestid", ""),
            },
        },
        "CreateSession",
    )


def _rebuild(options: dict[str, Any]) -> RolesAnywhere:
    return RolesAnywhere(**options)
