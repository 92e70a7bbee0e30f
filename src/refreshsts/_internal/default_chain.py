"""What an AWS SDK's default credential chain finds before the container-credentials endpoint.

Both botocore and the AWS C++ SDK (pyarrow) try environment keys, then the profile in the
shared files, then web identity, and only then the container endpoint that `refreshsts exec`
and `pyarrow_filesystem` serve: anything found earlier signs instead of the session.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "CONFIG_CREDENTIAL_KEYS",
    "config_file",
    "credentials_before_container",
    "credentials_file",
    "section_has",
]

CONFIG_CREDENTIAL_KEYS = (
    "aws_access_key_id",
    "role_arn",
    "credential_process",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
)
"""Profile settings from which an SDK gets credentials on its own."""

_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_ENV_BEFORE_FULL_URI = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or str(Path.home()))


def credentials_file(env: Mapping[str, str]) -> Path:
    """The shared credentials file an SDK started with `env` reads."""
    default = _home(env) / ".aws" / "credentials"
    return Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or default).expanduser()


def config_file(env: Mapping[str, str]) -> Path:
    """The shared config file an SDK started with `env` reads."""
    return Path(env.get("AWS_CONFIG_FILE") or _home(env) / ".aws" / "config").expanduser()


def section_has(path: Path, section: str, keys: Sequence[str]) -> bool:
    """Whether INI file `path` has `section` setting any of `keys` (unreadable: no)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return False
    return parser.has_section(section) and any(parser.has_option(section, k) for k in keys)


def credentials_before_container(env: Mapping[str, str]) -> list[str]:
    """What the default chain of an SDK started with `env` signs with before the endpoint.

    The profile is `AWS_DEFAULT_PROFILE` (the C++ SDK's first choice), `AWS_PROFILE`
    (botocore's), or `default`; every one named is checked.
    """
    found = [f"{name} is set" for name in (*_ENV_KEYS, *_ENV_BEFORE_FULL_URI) if env.get(name)]
    profiles = [env[name] for name in ("AWS_DEFAULT_PROFILE", "AWS_PROFILE") if env.get(name)]
    for profile in dict.fromkeys(profiles or ["default"]):
        shared, config = credentials_file(env), config_file(env)
        if section_has(shared, profile, CONFIG_CREDENTIAL_KEYS):
            found.append(f"profile [{profile}] of {shared} holds credentials")
        for section in dict.fromkeys((profile, f"profile {profile}")):
            if section_has(config, section, CONFIG_CREDENTIAL_KEYS):
                found.append(f"profile [{section}] of {config} configures credentials")
    return found
