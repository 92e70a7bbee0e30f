"""from_profile: a role chain in the shared AWS config, read into refreshsts hops and a source.

botocore refreshes config-file roles itself, but stops at MFA on the second refresh and
ignores `duration_seconds` for web identity; here the same settings become ordinary hops,
so they get refreshsts's refresh, caching and up-front checks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.credentials import (
    ConfigProvider,
    Credentials,
    EnvProvider,
    SharedCredentialProvider,
)
from botocore.exceptions import BotoCoreError

from ._internal.botocore_sessions import new_botocore_session
from .container_credentials import ContainerCredentials
from .durations import format_duration
from .errors import ConfigurationError
from .hops import AssumeRole, AssumeRoleWithWebIdentity, Hop
from .hops._mfa import MfaToken
from .hops._role_session import CHAINED_MAX
from .instance_metadata import InstanceMetadata
from .sources import SSO_KEYS, Source, SourceLike, resolve_source

__all__ = ["ProfileChain", "profile_session_options", "read_profile_chain"]

logger = logging.getLogger("refreshsts")

CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")
GLOBAL_STS_ENDPOINT = "https://sts.amazonaws.com"
LEGACY_GLOBAL_REGIONS = frozenset(
    {
        "ap-northeast-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "aws-global",
        "ca-central-1",
        "eu-central-1",
        "eu-north-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
"""Regions whose STS calls go to sts.amazonaws.com under ``sts_regional_endpoints = legacy``."""
_CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "credential_process",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "login_session",
)


@dataclass(frozen=True)
class ProfileChain:
    """A profile's role chain: the profiles walked, the hops root side first, the root source."""

    profiles: tuple[str, ...]
    """The named profile first, then each source_profile down to the root."""
    hops: tuple[Hop, ...]
    source: SourceLike
    region: str | None
    sts_endpoint_url: str | None


@dataclass(frozen=True)
class _Link:
    profile: str
    config: Mapping[str, Any]


def read_profile_chain(name: str, *, mfa_token: MfaToken | None = None) -> ProfileChain:
    """Read profile `name`'s role chain from the shared config, refusing what cannot work."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"from_profile: profile name must be non-empty text, not {name!r}")
    session = new_botocore_session()
    try:
        profiles: Mapping[str, Mapping[str, Any]] = session.full_config.get("profiles", {})
    except BotoCoreError as exc:
        raise ConfigurationError(f"from_profile({name!r}): cannot read the config: {exc}") from exc
    files = _files(session)
    if name not in profiles:
        raise ConfigurationError(
            f"from_profile({name!r}): no such profile in {files} (profiles found: "
            f"{', '.join(sorted(profiles)) or 'none'})"
        )
    links, source, path = _walk(name, profiles, files)
    hops = _hops(links, source, profiles, files, mfa_token)
    if mfa_token is not None and not any(getattr(hop, "mfa_serial", None) for hop in hops):
        raise ConfigurationError(
            f"from_profile({name!r}): mfa_token= is given but no profile in the chain "
            f"({' -> '.join(path)}) sets mfa_serial"
        )
    profile_session = new_botocore_session(profile=name)
    region = profile_session.get_config_variable("region")
    endpoints = profile_session.get_config_variable("sts_regional_endpoints")
    return ProfileChain(
        profiles=tuple(path),
        hops=tuple(hops),
        source=source,
        region=str(region) if region else None,
        sts_endpoint_url=_sts_endpoint(name, endpoints, region, profiles[name]),
    )


def profile_session_options(
    name: str, overrides: Mapping[str, Any], allowed: set[str]
) -> tuple[tuple[Hop, ...], dict[str, Any]]:
    """The hops and session options of profile `name`'s chain, `overrides` applied.

    `overrides` are session options (names in `allowed`) plus mfa_token. Returning options
    rather than a session keeps this module free of the session class, which imports it.
    """
    unknown = sorted(set(overrides) - allowed - {"mfa_token"})
    if unknown:
        raise ConfigurationError(
            f"from_profile({name!r}): unknown option {', '.join(unknown)}: pass "
            f"RefreshableSession options ({', '.join(sorted(allowed))}) or mfa_token"
        )
    options = dict(overrides)
    chain = read_profile_chain(name, mfa_token=options.pop("mfa_token", None))
    region_given = options.get("region") is not None or options.get("region_name") is not None
    if not region_given and chain.region is not None:
        options["region"] = chain.region
    if options.get("sts_endpoint_url") is None and chain.sts_endpoint_url is not None:
        options["sts_endpoint_url"] = chain.sts_endpoint_url
    logger.debug("profile %r: %s", name, " -> ".join(hop.label for hop in chain.hops))
    if options.get("profile_name") is None:
        options.setdefault("profile", name)
    source = chain.source if chain.source is not None else resolve_source(None)
    return chain.hops, {**options, "source": source}


def _files(session: Any) -> str:
    return f"{_path(session, 'config_file')} or {_path(session, 'credentials_file')}"


def _path(session: Any, variable: str) -> str:
    """The shared config or credentials file `session` reads, as a full path."""
    return os.path.expanduser(str(session.get_config_variable(variable)))


def _walk(
    name: str, profiles: Mapping[str, Mapping[str, Any]], files: str
) -> tuple[list[_Link], SourceLike, list[str]]:
    """Follow source_profile from `name` to the root: the role links (named first) and root."""
    path = [name]
    links: list[_Link] = []
    current = name
    while True:
        config = profiles[current]
        role_arn = config.get("role_arn")
        if role_arn is None:
            if current == name:
                raise ConfigurationError(
                    f"profile {name!r} has no role_arn: from_profile reads role chains; for a "
                    f"profile holding keys, pass source={name!r} and your hops to "
                    "RefreshableSession"
                )
            _check_root(current, config, path)
            return links, current, path
        source_profile = config.get("source_profile")
        credential_source = config.get("credential_source")
        if config.get("web_identity_token_file") is not None:
            if source_profile is not None or credential_source is not None:
                other = "source_profile" if source_profile is not None else "credential_source"
                raise ConfigurationError(
                    f"profile {current!r} sets web_identity_token_file and {other}: a web "
                    "identity role is assumed with the token alone; remove one"
                )
            links.append(_Link(current, config))
            return links, None, path
        if source_profile is not None and credential_source is not None:
            raise ConfigurationError(
                f"profile {current!r} sets both source_profile = {source_profile!r} and "
                f"credential_source = {credential_source!r}: a role has one source; remove one"
            )
        if source_profile is None and credential_source is None:
            raise ConfigurationError(
                f"profile {current!r} sets role_arn but none of source_profile, "
                f"credential_source or web_identity_token_file: name where the credentials "
                f"that assume {role_arn} come from"
            )
        links.append(_Link(current, config))
        if credential_source is not None:
            return links, _credential_source(current, credential_source), path
        if source_profile == current:
            if "aws_access_key_id" not in config:
                raise ConfigurationError(
                    f"profile {current!r} names itself as source_profile but holds no "
                    "aws_access_key_id and aws_secret_access_key to assume its role with"
                )
            _check_root(current, config, path)
            return links, _ProfileKeys(current), path
        if source_profile in path:
            raise ConfigurationError(
                f"profile loop: {' -> '.join([*path, source_profile])}: a source_profile "
                "must lead to credentials, not back to a profile on the way"
            )
        if source_profile not in profiles:
            raise ConfigurationError(
                f"profile {current!r}: source_profile = {source_profile!r} names no profile in "
                f"{files} (profiles found: {', '.join(sorted(profiles))})"
            )
        current = str(source_profile)
        path.append(current)


def _check_root(profile: str, config: Mapping[str, Any], path: list[str]) -> None:
    user = f" (the source_profile of {path[-2]!r})" if len(path) > 1 else ""
    if not any(key in config for key in _CREDENTIAL_KEYS):
        raise ConfigurationError(
            f"profile {profile!r}{user} has no credentials: it needs aws_access_key_id and "
            "aws_secret_access_key, credential_process, or IAM Identity Center (sso_*) settings"
        )
    if ("aws_access_key_id" in config) != ("aws_secret_access_key" in config):
        raise ConfigurationError(
            f"profile {profile!r}{user} sets only one of aws_access_key_id and "
            "aws_secret_access_key"
        )


def _credential_source(profile: str, value: str) -> Source:
    if value == "Environment":
        return _Environment(profile)
    if value == "Ec2InstanceMetadata":
        return InstanceMetadata()
    if value == "EcsContainer":
        try:
            return ContainerCredentials()
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"profile {profile!r}: credential_source = EcsContainer, but {exc}"
            ) from None
    raise ConfigurationError(
        f"profile {profile!r}: credential_source = {value!r} is not one of "
        f"{', '.join(CREDENTIAL_SOURCES)}"
    )


def _hops(
    links: list[_Link],
    source: SourceLike,
    profiles: Mapping[str, Mapping[str, Any]],
    files: str,
    mfa_token: MfaToken | None,
) -> list[Hop]:
    """The links' hops, root side first, each checked with its profile named in any error."""
    hops: list[Hop] = []
    ordered = list(reversed(links))
    for index, link in enumerate(ordered):
        config = link.config
        duration = _duration_seconds(link.profile, config)
        caller = _role_caller(index, ordered, source, profiles)
        if caller is not None and duration is not None and duration > CHAINED_MAX:
            raise ConfigurationError(
                f"profile {link.profile!r}: duration_seconds = {duration} "
                f"({format_duration(duration)}) is longer than 1h, but {caller}, so assuming "
                f"{config['role_arn']} is role chaining, which AWS caps at 1h"
            )
        try:
            hop: Hop
            if config.get("web_identity_token_file") is not None:
                hop = AssumeRoleWithWebIdentity(
                    config["role_arn"],
                    token_file=config["web_identity_token_file"],
                    session_name=config.get("role_session_name"),
                    duration=duration,
                )
            else:
                hop = AssumeRole(
                    config["role_arn"],
                    session_name=config.get("role_session_name"),
                    external_id=config.get("external_id"),
                    duration=duration,
                    mfa_serial=config.get("mfa_serial"),
                    mfa_token=mfa_token if config.get("mfa_serial") is not None else None,
                )
        except ConfigurationError as exc:
            raise ConfigurationError(f"profile {link.profile!r} in {files}: {exc}") from None
        hops.append(hop)
    return hops


def _duration_seconds(profile: str, config: Mapping[str, Any]) -> int | None:
    value = config.get("duration_seconds")
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise ConfigurationError(
            f"profile {profile!r}: duration_seconds = {value!r} is not a whole number of seconds"
        )
    return int(text)


def _role_caller(
    index: int,
    ordered: list[_Link],
    source: SourceLike,
    profiles: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """Why the credentials assuming link `index`'s role are a role session; None if not."""
    if index > 0:
        below = ordered[index - 1]
        return (
            f"its source_profile {below.profile!r} is itself a role session "
            f"({below.config['role_arn']})"
        )
    if isinstance(source, Source) and source.role_session is not None:
        return f"its credential source is {source.role_session}"
    if isinstance(source, str):
        config = profiles.get(source, {})
        if any(key in config for key in SSO_KEYS):
            return f"its source_profile {source!r} signs in with IAM Identity Center (a role)"
    return None


def _sts_endpoint(
    name: str, value: object, region: object, config: Mapping[str, Any]
) -> str | None:
    """sts.amazonaws.com when ``sts_regional_endpoints = legacy`` applies to `region`."""
    if value is None or value == "regional":
        return None
    if value != "legacy":
        raise ConfigurationError(
            f"profile {name!r}: sts_regional_endpoints = {value!r} is not 'regional' or 'legacy'"
        )
    if region not in LEGACY_GLOBAL_REGIONS or "endpoint_url" in config:
        return None
    if os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    return GLOBAL_STS_ENDPOINT


class _Environment(Source):
    """``credential_source = Environment``: the AWS_* key variables of this process."""

    pickles_itself = True

    def __init__(self, profile: str) -> None:
        super().__init__(label=f"environment variables (credential_source of profile {profile!r})")
        self._of = profile

    def credentials(self) -> Credentials:
        creds = EnvProvider().load()
        if creds is None:
            raise self._error(
                f"{self.label}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
            )
        return creds

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Environment, (self._of,))


class _ProfileKeys(Source):
    """The static keys of a profile that names itself as its own source_profile."""

    pickles_itself = True

    def __init__(self, profile: str) -> None:
        super().__init__(profile=profile, label=f"the keys of profile {profile!r}")

    def credentials(self) -> Credentials:
        session = self.botocore_session
        name = str(self.profile)
        providers = (
            SharedCredentialProvider(_path(session, "credentials_file"), name),
            ConfigProvider(_path(session, "config_file"), name),
        )
        for provider in providers:
            creds = provider.load()
            if creds is not None:
                return creds
        raise self._error(f"{self.label}: no aws_access_key_id and aws_secret_access_key found")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ProfileKeys, (self.profile,))
