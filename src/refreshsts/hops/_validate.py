"""Checks of STS request parameters against the limits STS documents, made before any call."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigurationError

ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/(?:[\x21-\x7e]{0,510}/)?[\w+=,.@-]{1,64}")
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]{1,512}")
ANY_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?:\d{12})?:[\x21-\x7e]{1,2000}")
NAME_CHARS = re.compile(r"[\w+=,.@-]+", re.ASCII)
EXTERNAL_ID_CHARS = re.compile(r"[\w+=,.@:/-]+", re.ASCII)
TAG_CHARS = re.compile(r"[\w\s.:/=+\-@]*")
MAX_POLICY_CHARS = 2048
MAX_POLICY_ARNS = 10
MAX_TAGS = 50


def role_arn(where: str, value: object, *, name: str = "role_arn") -> str:
    if not isinstance(value, str) or not ROLE_ARN.fullmatch(value):
        raise ConfigurationError(
            f"{where}: {name}={_show(value)} is not a role ARN: expected "
            "'arn:aws:iam::<12-digit account>:role/<path/><name>' with a name of 1-64 chars of "
            "[A-Za-z0-9+=,.@_-]"
        )
    return value


def arn(where: str, value: object, *, name: str) -> str:
    if not isinstance(value, str) or not ANY_ARN.fullmatch(value):
        raise ConfigurationError(f"{where}: {name}={_show(value)} is not an ARN ('arn:aws:...')")
    return value


def name_like(where: str, value: object, *, name: str, low: int = 2, high: int = 64) -> str:
    """A role session name, source identity, MFA-less name: `low`-`high` chars of [\\w+=,.@-]."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: {name} must be text, not {type(value).__name__}")
    if not low <= len(value) <= high or not NAME_CHARS.fullmatch(value):
        raise ConfigurationError(
            f"{where}: {name}={_show(value)} is invalid: it must be {low}-{high} characters of "
            f"letters, digits and +=,.@_- (got {len(value)} characters)"
        )
    return value


def external_id(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: external_id must be text, not {type(value).__name__}")
    if not 2 <= len(value) <= 1224 or not EXTERNAL_ID_CHARS.fullmatch(value):
        raise ConfigurationError(
            f"{where}: external_id of {len(value)} characters is invalid: it must be 2-1224 "
            "characters of letters, digits and +=,.@:/_-"
        )
    return value


def policy(where: str, value: object) -> str:
    """A session policy as compact JSON text, at most 2048 characters."""
    if isinstance(value, Mapping):
        text = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, str):
        text = value
    else:
        raise ConfigurationError(
            f"{where}: policy must be a JSON string or a dict, not {type(value).__name__}"
        )
    if len(text) > MAX_POLICY_CHARS:
        raise ConfigurationError(
            f"{where}: policy is {len(text)} characters; STS allows at most {MAX_POLICY_CHARS} "
            "(put larger permissions in a managed policy and pass its ARN in policy_arns)"
        )
    try:
        json.loads(text)
    except ValueError:
        raise ConfigurationError(f"{where}: policy is not valid JSON") from None
    return text


def policy_arns(where: str, values: Iterable[object]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ConfigurationError(f"{where}: policy_arns must be a list of ARNs, not one string")
    result = tuple(values)
    if len(result) > MAX_POLICY_ARNS:
        raise ConfigurationError(
            f"{where}: policy_arns has {len(result)} entries; STS allows at most {MAX_POLICY_ARNS}"
        )
    for value in result:
        if not isinstance(value, str) or not POLICY_ARN.fullmatch(value):
            raise ConfigurationError(
                f"{where}: policy_arns entry {_show(value)} is not a managed policy ARN "
                "('arn:aws:iam::<account or aws>:policy/<name>')"
            )
    return result  # type: ignore[return-value]


def tags(where: str, values: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if values is None:
        return ()
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"{where}: tags must be a mapping of key to value")
    if len(values) > MAX_TAGS:
        raise ConfigurationError(
            f"{where}: {len(values)} tags given; STS allows at most {MAX_TAGS}"
        )
    for key, value in values.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not TAG_CHARS.fullmatch(key):
            raise ConfigurationError(
                f"{where}: tag key {_show(key)} is invalid: 1-128 characters of letters, digits, "
                "spaces and _.:/=+-@"
            )
        if key.lower().startswith("aws:"):
            raise ConfigurationError(f"{where}: tag key {key!r} uses the reserved prefix 'aws:'")
        if not isinstance(value, str) or len(value) > 256 or not TAG_CHARS.fullmatch(value):
            raise ConfigurationError(
                f"{where}: value of tag {key!r} is invalid: 0-256 characters of letters, digits, "
                "spaces and _.:/=+-@"
            )
    lowered = [key.lower() for key in values]
    if len(set(lowered)) != len(lowered):
        raise ConfigurationError(f"{where}: tag keys differ only by case; STS treats them as one")
    return tuple(sorted(values.items()))


def transitive_tag_keys(
    where: str, values: Iterable[str], tag_pairs: tuple[tuple[str, str], ...]
) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ConfigurationError(f"{where}: transitive_tag_keys must be a list of tag keys")
    result = tuple(values)
    known = {key.lower() for key, _ in tag_pairs}
    for key in result:
        if not isinstance(key, str) or key.lower() not in known:
            raise ConfigurationError(
                f"{where}: transitive tag key {_show(key)} is not one of this hop's tags "
                f"({', '.join(sorted(k for k, _ in tag_pairs)) or 'none given'})"
            )
    return result


def source_identity(where: str, value: object) -> str:
    text = name_like(where, value, name="source_identity")
    if text.lower().startswith("aws:"):
        raise ConfigurationError(f"{where}: source_identity may not start with 'aws:'")
    return text


MFA_SERIAL = re.compile(r"[\w+=/:,.@-]{9,256}", re.ASCII)
SAML_PROVIDER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:saml-provider/[\w+=,.@-]{1,128}")


def mfa(where: str, serial: object, token: object) -> tuple[str | None, Any]:
    """An MFA device serial (or ARN) and the callable that returns its current code."""
    if serial is None:
        if token is not None:
            raise ConfigurationError(
                f"{where}: mfa_token is set but mfa_serial is not: pass the MFA device's ARN "
                "(arn:aws:iam::<account>:mfa/<name>) or hardware serial as mfa_serial"
            )
        return None, None
    if not isinstance(serial, str) or not MFA_SERIAL.fullmatch(serial):
        raise ConfigurationError(
            f"{where}: mfa_serial={_show(serial)} is invalid: expected the MFA device's ARN "
            "(arn:aws:iam::<account>:mfa/<name>) or a hardware serial, 9-256 characters of "
            "letters, digits and +=/:,.@_-"
        )
    if isinstance(token, str):
        raise ConfigurationError(
            f"{where}: mfa_token must be a callable returning the current code, not a code: "
            "AWS accepts each code once and every refresh needs a new one"
        )
    if token is not None and not callable(token):
        raise ConfigurationError(
            f"{where}: mfa_token must be a callable returning the current 6-digit code, not "
            f"{type(token).__name__}"
        )
    return serial, token


def saml_provider_arn(where: str, value: object) -> str:
    if not isinstance(value, str) or not SAML_PROVIDER_ARN.fullmatch(value):
        raise ConfigurationError(
            f"{where}: principal_arn={_show(value)} is not a SAML provider ARN: expected "
            "'arn:aws:iam::<12-digit account>:saml-provider/<name>'"
        )
    return value


def provider_id(where: str, value: object) -> str:
    """ProviderId of an OAuth 2.0 provider (www.amazon.com, graph.facebook.com): 4-2048 chars."""
    if not isinstance(value, str) or not 4 <= len(value) <= 2048:
        raise ConfigurationError(
            f"{where}: provider_id={_show(value)} is invalid: 4-2048 characters, the OAuth 2.0 "
            "provider's domain (www.amazon.com or graph.facebook.com); leave it unset for "
            "OpenID Connect providers"
        )
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"
