"""`refreshsts export`: the credentials as shell, dotenv or JSON variable assignments."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Callable, Mapping

from ._credentials import Snapshot, rfc3339, snapshot
from ._options import add_role_options, build_session

__all__ = ["FORMATS", "add_parser", "render", "variables"]

_DOTENV_BARE = re.compile(r"[A-Za-z0-9_+/=:.,@%-]*")


def variables(creds: Snapshot) -> dict[str, str]:
    """The environment variables botocore and the AWS CLI read, in a stable order.

    AWS_SECURITY_TOKEN is the legacy name of the session token; botocore reads it too, so a
    stale one left in a shell would win unless it is replaced as well.
    """
    names = {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
    }
    if creds.session_token is not None:
        names["AWS_SESSION_TOKEN"] = creds.session_token
        names["AWS_SECURITY_TOKEN"] = creds.session_token
    if creds.expiration is not None:
        names["AWS_CREDENTIAL_EXPIRATION"] = rfc3339(creds.expiration)
    if creds.account_id is not None:
        names["AWS_ACCOUNT_ID"] = creds.account_id
    return names


def _sh(name: str, value: str) -> str:
    return f"export {name}={shlex.quote(value)}"


def _fish(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"set -gx {name} '{escaped}'"


def _powershell(name: str, value: str) -> str:
    # PowerShell also ends single-quoted strings at the typographic single quotes.
    escaped = re.sub("(['\u2018\u2019\u201a\u201b])", r"\1\1", value)
    return f"$Env:{name} = '{escaped}'"


def _dotenv(name: str, value: str) -> str:
    if _DOTENV_BARE.fullmatch(value):
        return f"{name}={value}"
    if "'" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{name} cannot be written to a dotenv file portably")
    return f"{name}='{value}'"


_LINES: dict[str, Callable[[str, str], str]] = {
    "sh": _sh,
    "fish": _fish,
    "powershell": _powershell,
    "dotenv": _dotenv,
}
FORMATS = (*_LINES, "json")


def render(fmt: str, names: Mapping[str, str]) -> str:
    """`names` as assignments in format `fmt`, one per line, ending with a newline."""
    if fmt == "json":
        return json.dumps(dict(names), indent=2) + "\n"
    line = _LINES[fmt]
    return "".join(line(name, value) + "\n" for name, value in names.items())


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="print the credentials as shell, dotenv or JSON assignments",
        description=(
            "Print AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, "
            "AWS_SECURITY_TOKEN, AWS_CREDENTIAL_EXPIRATION and AWS_ACCOUNT_ID, e.g. "
            'eval "$(refreshsts export --role-arn ARN)". They are a snapshot: they do not '
            "refresh; prefer credential-process or exec for anything long."
        ),
    )
    add_role_options(parser)
    parser.add_argument(
        "--format", choices=FORMATS, default="sh", help="output syntax (default: sh)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = render(args.format, variables(snapshot(build_session(args))))
    sys.stdout.write(text)
    return 0
