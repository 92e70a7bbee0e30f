"""The library's error messages, told in the command's words: flags, not keyword arguments.

`source='dev': no such profile` becomes `--source-profile dev: no such profile`, so a user
of the command reads the option to change, not the Python parameter behind it.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["in_cli_words"]

_FLAGS = {
    "source": "--source-profile",
    "profile": "--source-profile",
    "role_arn": "--role-arn",
    "session_name": "--session-name",
    "external_id": "--external-id",
    "duration": "--duration",
    "region": "--region",
    "region_name": "--region",
}
_VALUE = re.compile(r"\b(" + "|".join(_FLAGS) + r")=('(?:[^'\\]|\\.)*'|[^\s,;:)]+)")
_BARE = re.compile(r"\b(external_id|session_name)\b(?!=)")
_FROM_PROFILE = re.compile(r"\bfrom_profile\('((?:[^'\\]|\\.)*)'\)")
_HOP_CALL = re.compile(r"\bAssumeRole\('((?:[^'\\]|\\.)*)'\): (?!role_arn=)")
_HOP_CALL_NAMING_ITSELF = re.compile(r"\bAssumeRole\('(?:[^'\\]|\\.)*'\): (?=role_arn=)")
_SESSION_DURATION_HINT = re.compile(
    r"; the session's duration applies to every hop without its own: pass duration='max' "
    r"for each hop's longest, or give this hop its own duration="
)


_MFA_HINT = "pass mfa_token=... (a callable returning the code the device shows now)"


def in_cli_words(message: str) -> str:
    """`message` with keyword arguments (`source='x'`) replaced by flags (`--source-profile x`)."""
    message = message.replace(
        _MFA_HINT,
        "run refreshsts in a terminal, where it asks for the code, or use a role that needs no MFA",
    )
    message = _SESSION_DURATION_HINT.sub(
        "; --duration applies to every hop: pass --duration max for each hop's longest", message
    )
    message = _FROM_PROFILE.sub(r"--from-profile \1", message)
    message = _HOP_CALL_NAMING_ITSELF.sub("", message)
    message = _HOP_CALL.sub(r"--role-arn \1: ", message)
    message = _VALUE.sub(lambda m: f"{_FLAGS[m.group(1)]} {_shell(m.group(2))}", message)
    return _BARE.sub(lambda m: _FLAGS[m.group(1)], message)


def _shell(value: str) -> str:
    """A value as the user would type it: quoted only when the shell needs it."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return shlex.quote(value[1:-1].replace("\\'", "'"))
    return value
