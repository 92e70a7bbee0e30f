"""Sources: where the root of a chain gets its credentials, and who that principal is."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Union

import boto3
import botocore.session
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from ._internal import forks
from ._internal.botocore_sessions import new_botocore_session
from .errors import ConfigurationError, RefreshError

if TYPE_CHECKING:
    from .hops import Hop

__all__ = ["EndpointSource", "Source", "SourceLike", "resolve_source"]

SourceLike = Union[str, boto3.Session, botocore.session.Session, "Source", None]
"""Where the root of a chain gets its credentials: a profile name, a boto3 or botocore
session, a Source such as InstanceMetadata(), or None for botocore's default chain."""

SSO_KEYS = ("sso_session", "sso_account_id", "sso_role_name")
"""Settings of a profile that signs in with IAM Identity Center, as a permission set role."""


class Source:
    """The principal at the root of a chain: a profile, a boto3 session or the default chain.

    Its `identity` names the principal without secrets, with a proof that the keys are held,
    so cache keys differ between principals and between sessions of one role. `role_session`
    says why its credentials are a role session when that is known before any call (an
    instance or container role, a profile that assumes a role): an AssumeRole right after it
    is then role chaining, which AWS caps at 1 h. `temporary` says where its keys carry a
    session token when there is no role session to name (AWS_SESSION_TOKEN,
    `aws_session_token`, as `aws-vault exec` exports GetSessionToken credentials): STS counts
    an AssumeRole signed by those as role chaining too.

    RefreshableSession builds one from its `source=`; pass InstanceMetadata() or
    ContainerCredentials() to choose an endpoint yourself.

    Args:
        profile: The shared-config profile whose credentials sign, or None.
        session: A botocore session to take credentials from; by default one on `profile`.
        label: How logs and errors name the source.
        picklable: False when a pickle could not carry the source without a secret.
        why_not_picklable: The TypeError message pickling gives when not `picklable`.
        role_session: Why its credentials are a role session, when known before any call.
        temporary: Where its keys carry a session token, when they are no role session.
    """

    pickles_itself: ClassVar[bool] = False
    """True when a pickle carries the source itself, not just its profile name."""

    def __init__(
        self,
        *,
        profile: str | None = None,
        session: botocore.session.Session | None = None,
        label: str,
        picklable: bool = True,
        why_not_picklable: str = "",
        role_session: str | None = None,
        temporary: str | None = None,
    ) -> None:
        self.profile = profile
        self.label = label
        self.role_session = role_session
        self.temporary = temporary
        self._session = session
        self._owns_session = session is None
        self._picklable = picklable
        self._why_not_picklable = why_not_picklable
        self._lock = threading.Lock()
        self._identity: str | None = None
        self._account: str | None = None
        forks.reset_in_child(self, "_lock")

    def _after_fork_in_child(self) -> None:
        """botocore's refresh lock, which a parent thread may have held, is new too.

        A botocore session this source made for itself (a profile, the default chain) is
        dropped: its container and instance-metadata providers pool keep-alive sockets that
        the parent shares, so the child resolves its credentials anew on its own.
        """
        if self._owns_session:
            self._session = None
            return
        creds = getattr(self._session, "_credentials", None)
        if isinstance(creds, RefreshableCredentials):
            creds._refresh_lock = threading.Lock()

    @property
    def botocore_session(self) -> botocore.session.Session:
        """The botocore session the root credentials come from, made on first use."""
        with self._lock:
            if self._session is None:
                self._session = new_botocore_session(profile=self.profile)
            return self._session

    @property
    def region(self) -> str | None:
        """The region the source's configuration names, or None."""
        region = self.botocore_session.get_config_variable("region")
        return str(region) if region else None

    def credentials(self) -> Credentials:
        """The root credentials, as botocore resolves them (possibly refreshing themselves).

        Returns:
            botocore credentials; secrets stay inside them.

        Raises:
            RefreshError: No credentials could be loaded (hop 0).
        """
        try:
            creds = self.botocore_session.get_credentials()
        except Exception as exc:
            raise self._error(
                f"could not load credentials for {self.label}: {type(exc).__name__}: {exc}"
            ) from exc
        if creds is None:
            raise self._error(
                f"no credentials found for {self.label}: configure the profile, environment "
                "variables or an instance role"
            )
        return creds

    def identity(self, sts_client: Callable[[], Any]) -> str:
        """A secret-free name of the root principal, asked of STS only for temporary keys.

        Permanent keys are named by their access key id; temporary keys by the whole session
        STS says they belong to (ARN with the session name, and UserId), never just its role:
        a trust policy may admit one session of a role and refuse another. Both carry an
        HMAC of the key id under the secret key, since a key id is no secret (CloudTrail and
        presigned URLs show it): only a holder of the secret can make the same name, and
        sessions differing in what STS cannot show (SourceIdentity, tags) never share one.
        Rotated temporary keys therefore cost one STS call per next hop.
        """
        with self._lock:
            if self._identity is not None:
                return self._identity
        frozen = self.credentials().get_frozen_credentials()
        proof = root_proof(frozen)
        if not frozen.token:
            digest = hashlib.sha256(frozen.access_key.encode()).hexdigest()
            identity = f"access-key:{digest}:{proof}"
            account = None
        else:
            answer = sts_client().get_caller_identity()
            identity = f"session:{answer['Arn']}:{answer['UserId']}:{proof}"
            account = str(answer["Account"])
        with self._lock:
            self._identity = identity
            self._account = self._account or account
        return identity

    def account_id(self, sts_client: Callable[[], Any]) -> str:
        """The root principal's account ID: botocore's when it knows it, else STS's answer.

        Args:
            sts_client: Gives an STS client signed by this source, asked only when botocore
                does not know the account (one GetCallerIdentity, remembered).

        Returns:
            The 12-digit account ID.
        """
        known = getattr(self.credentials().get_frozen_credentials(), "account_id", None)
        if known:
            return str(known)
        with self._lock:
            if self._account is not None:
                return self._account
        account = str(sts_client().get_caller_identity()["Account"])
        with self._lock:
            self._account = account
        return account

    def leading_hops(self) -> tuple[Hop, ...]:
        """Hops the source makes itself, which a session puts before its own hops.

        Returns:
            An empty tuple for most sources; RolesAnywhere gives its CreateSession, and
            CredentialProcess the run of its command.
        """
        return ()

    def recipe(self) -> tuple[str, SourceLike]:
        """What a pickle carries to rebuild this source: never a key."""
        if not self._picklable:
            raise TypeError(self._why_not_picklable)
        return ("source", self) if self.pickles_itself else ("profile", self.profile)

    def _error(self, message: str) -> RefreshError:
        """A RefreshError for this source: the root of the chain, hop 0."""
        return RefreshError(message, hop=0, description=self.label)

    def __repr__(self) -> str:
        return f"Source({self.label})"


class EndpointSource(Source):
    """A source botocore fetches from a metadata endpoint, then refreshes by itself.

    The credentials are fetched on first use, with `timeout` seconds per request and
    `attempts` tries, and kept: botocore fetches them again as they age.
    """

    pickles_itself: ClassVar[bool] = True

    def __init__(self, *, timeout: float, attempts: int, **options: Any) -> None:
        where = type(self).__name__
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (0 < timeout <= 60)
        ):
            raise ConfigurationError(
                f"{where}: timeout={timeout!r} must be a number of seconds in (0, 60]"
            )
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise ConfigurationError(f"{where}: attempts={attempts!r} must be 1-10")
        super().__init__(**options)
        self.timeout = float(timeout)
        self.attempts = attempts
        self._creds_lock = threading.Lock()
        forks.reset_in_child(self, "_lock", "_creds_lock")
        self._creds: Credentials | None = None

    def _after_fork_in_child(self) -> None:
        """The child fetches from the endpoint afresh: the parent's credentials object holds
        its lock and a fetcher whose connection pool is the parent's."""
        super()._after_fork_in_child()
        self._creds = None

    def credentials(self) -> Credentials:
        """The role's credentials, fetched once; botocore refreshes them from the endpoint.

        Returns:
            botocore refreshable credentials.

        Raises:
            RefreshError: The endpoint could not be reached or answered no credentials.
        """
        with self._creds_lock:
            if self._creds is None:
                self._creds = self._load()
            return self._creds

    def _load(self) -> Credentials:
        """Fetch the credentials from the endpoint; any failure is a RefreshError."""
        raise NotImplementedError


def root_proof(frozen: ReadOnlyCredentials) -> str:
    """An HMAC of the key id under the secret key: only a holder of the secret can make it."""
    return hmac.new(
        frozen.secret_key.encode(), b"refreshsts root\0" + frozen.access_key.encode(), "sha256"
    ).hexdigest()


def check_profile(profile: object, *, param: str = "profile") -> str:
    """`profile` when the shared config or credentials file has it; else a ConfigurationError."""
    if not isinstance(profile, str) or not profile.strip():
        raise ConfigurationError(f"{param}={profile!r} is not a profile name")
    _require_profile(param, profile, new_botocore_session())
    return profile


def _require_profile(param: str, name: str, session: botocore.session.Session) -> None:
    available = session.available_profiles
    if name not in available:
        config = session.get_config_variable("config_file")
        raise ConfigurationError(
            f"{param}={name!r}: no such profile in {config} or the shared credentials "
            f"file (profiles found: {', '.join(sorted(available)) or 'none'})"
        )


def _environment_role_session() -> str | None:
    """Why the default chain will resolve to a role session, when the environment says so."""
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID"):
        return None
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return "web identity from AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN"
    if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
    ):
        return "a container role from AWS_CONTAINER_CREDENTIALS_*_URI"
    return None


def _environment_temporary() -> str | None:
    """Where the default chain's keys carry a session token, when the environment says so."""
    env = os.environ
    if not env.get("AWS_ACCESS_KEY_ID"):
        return None
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        if env.get(name):
            return f"a session token in {name}"
    return None


def profile_temporary(session: botocore.session.Session, profile: str) -> str | None:
    """Where `profile`'s own keys carry a session token (static temporary credentials)."""
    try:
        config = session.full_config.get("profiles", {}).get(profile, {})
    except Exception:
        return None
    if config.get("aws_session_token") or config.get("aws_security_token"):
        return f"profile {profile!r} has an aws_session_token"
    return None


def resolve_source(source: SourceLike) -> Source:
    """Turn what a user passed as `source=` into a Source, refusing what cannot work."""
    if isinstance(source, Source):
        return source
    if source is None:
        return Source(
            label="the default credential chain",
            role_session=_environment_role_session(),
            temporary=_environment_temporary(),
        )
    if isinstance(source, str):
        if not source.strip():
            raise ConfigurationError("source='' is not a profile name: pass a name or None")
        found = Source(profile=source, label=f"profile {source!r}")
        _require_profile("source", source, found.botocore_session)
        process = _process_of(found.botocore_session, source)
        if process is not None:
            return process
        found.role_session = profile_role_session(found.botocore_session, source)
        found.temporary = profile_temporary(found.botocore_session, source)
        return found
    if isinstance(source, boto3.Session):
        return _from_botocore(source._session)
    if isinstance(source, botocore.session.Session):
        return _from_botocore(source)
    raise ConfigurationError(
        f"source={type(source).__name__} is not a source: pass a profile name, a boto3.Session, "
        "refreshsts.InstanceMetadata(), refreshsts.ContainerCredentials() or None for the "
        "default credential chain"
    )


def _process_of(session: botocore.session.Session, profile: str) -> Source | None:
    """`profile`'s credential_process as a CredentialProcess, cached, when it is its source."""
    from .credential_process import profile_process  # noqa: PLC0415 - it builds on Source

    try:
        config = session.full_config.get("profiles", {}).get(profile, {})
    except Exception:
        return None
    return profile_process(profile, config)


def profile_role_session(session: botocore.session.Session, profile: str) -> str | None:
    """Why `profile`'s credentials are a role session, read from the config; None if unknown."""
    try:
        config = session.full_config.get("profiles", {}).get(profile, {})
    except Exception:
        return None
    if "role_arn" in config:
        return f"profile {profile!r} assumes {config['role_arn']}"
    if any(key in config for key in SSO_KEYS):
        return f"profile {profile!r} signs in with IAM Identity Center (a permission set role)"
    return None


def _from_botocore(session: botocore.session.Session) -> Source:
    profile = session.profile
    held = getattr(session, "_credentials", None)
    method = getattr(held, "method", None)
    if held is not None and method in {"explicit", "refreshsts"}:
        bare = _unpicklable(
            session, "bare keys", "holding bare keys, which a pickle would have to carry"
        )
        if method == "explicit" and getattr(held, "token", None):
            bare.temporary = "a boto3.Session whose keys carry a session token"
        return bare
    if isinstance(held, RefreshableCredentials):
        # Nothing shows whether the profile's own chain made them or a caller's function:
        # a pickle rebuilding them from the profile could land on another principal.
        return _unpicklable(
            session,
            "refreshable credentials",
            "holding refreshable credentials that a pickle cannot rebuild: nothing shows they "
            "come from its profile or the default chain rather than a function of yours",
        )
    label = f"a boto3.Session on profile {profile!r}" if profile else "a boto3.Session"
    if profile:
        role_session = profile_role_session(session, profile)
        temporary = profile_temporary(session, profile)
    else:
        role_session, temporary = _environment_role_session(), _environment_temporary()
    return Source(
        profile=profile,
        session=session,
        label=label,
        role_session=role_session,
        temporary=temporary,
    )


def _unpicklable(session: botocore.session.Session, what: str, why: str) -> Source:
    return Source(
        session=session,
        label=f"a boto3.Session with {what}",
        picklable=False,
        why_not_picklable=(
            f"this RefreshableSession's source is a boto3.Session {why}; pass "
            "source='<profile name>' or source=None (the default chain: environment, config "
            "files, instance role) instead"
        ),
    )
