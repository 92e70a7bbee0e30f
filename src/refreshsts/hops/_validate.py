"""Checks of STS request parameters against the limits STS documents, made before any call.

Each check names the parameter, what is wrong with the value and what STS accepts. Optional
parameters pass None through.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigurationError

ROLE_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:role/(?:[\x21-\x7e]{0,510}/)?[\w+=,.@-]{1,64}", re.ASCII
)
POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]{1,512}", re.ASCII)
SAML_PROVIDER_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::\d{12}:saml-provider/[\w+=,.@-]{1,128}", re.ASCII
)
MFA_SERIAL = re.compile(r"[\w+=/:,.@-]{9,256}", re.ASCII)
NAME_CHARS = re.compile(r"[\w+=,.@-]+", re.ASCII)
EXTERNAL_ID_CHARS = re.compile(r"[\w+=,.@:/-]+", re.ASCII)
TAG_PUNCTUATION = frozenset("_.:/=+-@")
TAG_CATEGORIES = frozenset("LZN")
"""STS's tag pattern ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``: letters, separators, numbers."""
POLICY_CHARS = re.compile(r"[\t\n\r\x20-\xff]+")
"""STS's session policy pattern ``[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+``."""
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


def name_like(where: str, value: object, *, name: str, low: int = 2, high: int = 64) -> str:
    """A role session name, source identity, federated user name: `low`-`high` of [\\w+=,.@-]."""
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{where}: {name} must be text of {low}-{high} characters of letters, digits and "
            f"+=,.@_-, not {_kind(value)}"
        )
    if not low <= len(value) <= high or not NAME_CHARS.fullmatch(value):
        raise ConfigurationError(
            f"{where}: {name}={_show(value)} is invalid: it must be {low}-{high} characters of "
            f"letters, digits and +=,.@_- (got {len(value)} characters)"
        )
    return value


def session_name(where: str, value: object) -> str | None:
    return None if value is None else name_like(where, value, name="session_name")


def external_id(where: str, value: object) -> str | None:
    """An ExternalId; errors give its length only, since it is a shared secret of sorts."""
    if value is None:
        return None
    rule = "2-1224 characters of letters, digits and +=,.@:/_-"
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: external_id must be text of {rule}, not {_kind(value)}")
    if not 2 <= len(value) <= 1224 or not EXTERNAL_ID_CHARS.fullmatch(value):
        raise ConfigurationError(
            f"{where}: external_id of {len(value)} characters is invalid: it must be {rule}"
        )
    return value


def policy(where: str, value: object) -> str | None:
    """A session policy as compact JSON text: a JSON object of at most 2048 characters."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        try:
            text = json.dumps(dict(value), separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"{where}: policy cannot be written as JSON ({exc}): pass a dict of JSON values "
                "(str, number, bool, None, list, dict) or the policy's JSON text"
            ) from None
    elif isinstance(value, str):
        text = value
    else:
        raise ConfigurationError(
            f"{where}: policy must be a JSON string or a dict, not {_kind(value)}"
        )
    if not POLICY_CHARS.fullmatch(text):
        bad = next((ch for ch in text if not POLICY_CHARS.fullmatch(ch)), None)
        found = "is empty" if bad is None else f"holds {_codepoint(bad)} at {text.index(bad)}"
        raise ConfigurationError(
            f"{where}: policy {found}: STS accepts only tab, line feed, carriage return and "
            "U+0020-U+00FF in a session policy (write other characters as \\uXXXX escapes in "
            "the JSON strings, as a dict policy is written)"
        )
    if len(text) > MAX_POLICY_CHARS:
        raise ConfigurationError(
            f"{where}: policy is {len(text)} characters; STS allows at most {MAX_POLICY_CHARS} "
            "(put larger permissions in a managed policy and pass its ARN in policy_arns)"
        )
    try:
        document = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"{where}: policy is not valid JSON") from None
    if not isinstance(document, dict):
        raise ConfigurationError(
            f"{where}: policy is JSON but not a policy document: STS expects a JSON object "
            'such as {"Version": "2012-10-17", "Statement": [...]}'
        )
    return text


def policy_arns(where: str, values: object) -> tuple[str, ...]:
    result = _sequence(
        where, values, name="policy_arns", what=f"at most {MAX_POLICY_ARNS} managed policy ARNs"
    )
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


def tags(where: str, values: object) -> tuple[tuple[str, str], ...]:
    """Session tags as sorted (key, value) pairs, from a mapping or from pairs."""
    if values is None:
        return ()
    pairs = _tag_pairs(where, values)
    if len(pairs) > MAX_TAGS:
        raise ConfigurationError(f"{where}: {len(pairs)} tags given; STS allows at most {MAX_TAGS}")
    seen: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not is_tag_text(key):
            raise ConfigurationError(
                f"{where}: tag key {_show(key)} is invalid: 1-128 characters of letters, digits, "
                f"spaces and _.:/=+-@{_tag_offender(key)}"
            )
        if key.lower().startswith("aws:"):
            raise ConfigurationError(f"{where}: tag key {key!r} uses the reserved prefix 'aws:'")
        if not isinstance(value, str) or len(value) > 256 or not is_tag_text(value):
            raise ConfigurationError(
                f"{where}: value of tag {key!r} is invalid: 0-256 characters of letters, digits, "
                f"spaces and _.:/=+-@{_tag_offender(value)}"
            )
        other = seen.get(key.lower())
        if other == key:
            raise ConfigurationError(f"{where}: tag key {key!r} is given twice")
        if other is not None:
            raise ConfigurationError(
                f"{where}: tag keys {other!r} and {key!r} differ only by case; STS treats them "
                "as one"
            )
        seen[key.lower()] = key
    return tuple(sorted(pairs))


def _tag_pairs(where: str, values: object) -> list[tuple[Any, Any]]:
    if isinstance(values, Mapping):
        return list(values.items())
    rule = f"a mapping of key to value or (key, value) pairs, at most {MAX_TAGS}"
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{where}: tags must be {rule}, not {_kind(values)}")
    pairs = []
    for item in values:
        if isinstance(item, (str, bytes)) or not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ConfigurationError(
                f"{where}: tags entry {_show(item)} is not a (key, value) pair: tags must be {rule}"
            )
        pairs.append((item[0], item[1]))
    return pairs


def is_tag_text(text: str) -> bool:
    """True when `text` matches STS's tag pattern: no control characters, tabs or newlines."""
    return all(
        ch in TAG_PUNCTUATION or unicodedata.category(ch)[0] in TAG_CATEGORIES for ch in text
    )


def _tag_offender(value: object) -> str:
    """Which character STS's tag pattern refuses, when that is why `value` is refused."""
    if not isinstance(value, str):
        return ""
    for ch in value:
        if not is_tag_text(ch):
            return f" ({_codepoint(ch)} is not allowed)"
    return ""


def _codepoint(ch: str) -> str:
    name = unicodedata.name(ch, f"category {unicodedata.category(ch)}")
    return f"U+{ord(ch):04X} ({name})"


def transitive_tag_keys(
    where: str, values: object, tag_pairs: tuple[tuple[str, str], ...]
) -> tuple[str, ...]:
    result = _sequence(where, values, name="transitive_tag_keys", what="keys of this hop's tags")
    known = {key.lower() for key, _ in tag_pairs}
    for key in result:
        if not isinstance(key, str) or key.lower() not in known:
            raise ConfigurationError(
                f"{where}: transitive tag key {_show(key)} is not one of this hop's tags "
                f"({', '.join(sorted(k for k, _ in tag_pairs)) or 'none given'})"
            )
    return result  # type: ignore[return-value]


def source_identity(where: str, value: object) -> str | None:
    if value is None:
        return None
    text = name_like(where, value, name="source_identity")
    if text.lower().startswith("aws:"):
        raise ConfigurationError(f"{where}: source_identity may not start with 'aws:'")
    return text


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
            f"{_kind(token)}"
        )
    return serial, token


def saml_provider_arn(where: str, value: object) -> str:
    if not isinstance(value, str) or not SAML_PROVIDER_ARN.fullmatch(value):
        raise ConfigurationError(
            f"{where}: principal_arn={_show(value)} is not a SAML provider ARN: expected "
            "'arn:aws:iam::<12-digit account>:saml-provider/<name>'"
        )
    return value


def provider_id(where: str, value: object) -> str | None:
    """ProviderId of an OAuth 2.0 provider (www.amazon.com, graph.facebook.com): 4-2048 chars."""
    if value is None:
        return None
    if not isinstance(value, str) or not 4 <= len(value) <= 2048:
        raise ConfigurationError(
            f"{where}: provider_id={_show(value)} is invalid: 4-2048 characters, the OAuth 2.0 "
            "provider's domain (www.amazon.com or graph.facebook.com); leave it unset for "
            "OpenID Connect providers"
        )
    return value


def _sequence(where: str, values: object, *, name: str, what: str) -> tuple[object, ...]:
    """`values` as a tuple; one string, or anything not iterable, is refused."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{where}: {name} must be a list of {what}, not {_kind(values)}")
    return tuple(values)


def _kind(value: object) -> str:
    return "one string" if isinstance(value, str) else type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


MAX_TOKEN_SIZE = 4096
"""MinimumSessionTokenSize: 0-4096 bytes of session token to reserve."""
TARGET_ACCOUNT = re.compile(r"\d{12}|arn:aws[a-z-]*:iam::(\d{12}):root", re.ASCII)
ROOT_TASK_POLICY_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::aws:policy/root-task/[\w+=,.@-]{1,128}", re.ASCII
)
ROOT_TASK_POLICIES = (
    "IAMAuditRootUserCredentials",
    "IAMCreateRootUserPassword",
    "IAMDeleteRootUserCredentials",
    "S3UnlockBucketPolicy",
    "SQSUnlockQueuePolicy",
)
"""The root-task policies AWS has published; others of that shape pass, as AWS may add more."""
CONTEXT_PROVIDER_ARN = re.compile(
    r"arn:aws[a-z-]*:iam::aws:contextProvider/[\w+=,.@/-]{1,2000}", re.ASCII
)
MAX_PROVIDED_CONTEXTS = 5
DESCRIPTION_CHARS = re.compile(r"[\t\n\r\x20-\x7e\xa1-\xff]{2,256}")
"""STS's ScopedSessionDescription: 2-256 of tab, newlines, printable ASCII and U+00A1-U+00FF."""


def minimum_session_token_size(where: str, value: object) -> int | None:
    """MinimumSessionTokenSize: bytes of session token STS reserves, 0-4096."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKEN_SIZE:
        raise ConfigurationError(
            f"{where}: minimum_session_token_size={_show(value)} is out of range: a whole "
            f"number of bytes, 0-{MAX_TOKEN_SIZE}"
        )
    return value


def target_principal(where: str, value: object) -> str:
    """AssumeRoot's TargetPrincipal: a member account's 12-digit ID or its root ARN."""
    return _matching(
        where,
        "target_principal",
        value,
        TARGET_ACCOUNT,
        "is not a member account: expected its 12-digit account ID or "
        "'arn:aws:iam::<12-digit account>:root'",
    )


def task_policy_arn(where: str, value: object) -> str:
    """AssumeRoot's TaskPolicyArn: an AWS managed policy under ``policy/root-task/``."""
    return _matching(
        where,
        "task_policy_arn",
        value,
        ROOT_TASK_POLICY_ARN,
        "is not a root task policy: expected 'arn:aws:iam::aws:policy/root-task/<name>', "
        f"such as {', '.join(ROOT_TASK_POLICIES)}",
    )


def _matching(where: str, name: str, value: object, pattern: re.Pattern[str], why: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigurationError(f"{where}: {name}={_show(value)} {why}")
    return value


def description(where: str, value: object) -> str | None:
    """ScopedSessionDescription, which CloudTrail records: 2-256 printable characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not DESCRIPTION_CHARS.fullmatch(value):
        got = f"{len(value)} characters" if isinstance(value, str) else _kind(value)
        raise ConfigurationError(
            f"{where}: description is invalid ({got}): 2-256 characters of printable ASCII, "
            "tab, newlines and U+00A1-U+00FF"
        )
    return value


def provided_contexts(where: str, values: object) -> tuple[tuple[str, object], ...]:
    """ProvidedContexts as (provider ARN, assertion) pairs, at most 5; none when empty.

    The assertion, a bearer proof, is checked by the token rules and never shown.
    """
    if values is None:
        return ()
    rule = (
        f"1-{MAX_PROVIDED_CONTEXTS} (provider_arn, assertion) pairs, provider_arn such as "
        "'arn:aws:iam::aws:contextProvider/IdentityCenter'"
    )
    pairs = _sequence(where, values, name="provided_contexts", what=rule)
    if len(pairs) > MAX_PROVIDED_CONTEXTS:
        raise ConfigurationError(
            f"{where}: provided_contexts has {len(pairs)} entries; STS accepts {rule}"
        )
    checked = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ConfigurationError(
                f"{where}: a provided_contexts entry is a {type(pair).__name__}, not a "
                f"(provider_arn, assertion) pair: pass {rule}"
            )
        arn = pair[0]
        if not isinstance(arn, str) or not CONTEXT_PROVIDER_ARN.fullmatch(arn):
            raise ConfigurationError(
                f"{where}: provided_contexts provider ARN {_show(arn)} is not a context "
                "provider: expected 'arn:aws:iam::aws:contextProvider/<provider>'"
            )
        checked.append((arn, pair[1]))
    return tuple(checked)
