"""`refreshsts whoami` and `refreshsts status`: who the session is, until when; never secrets."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from typing import Any

from .. import RefreshableSession
from ._cache import cache_directory, cache_lines, cache_report, one_key_warning
from ._credentials import rfc3339, snapshot
from ._options import add_role_options, build_session, has_role, open_cache

__all__ = ["add_parsers", "countdown"]


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    whoami = subparsers.add_parser(
        "whoami",
        help="GetCallerIdentity of the role session",
        description="Print the session's identity as `aws sts get-caller-identity` does.",
    )
    add_role_options(whoami)
    whoami.set_defaults(run=run_whoami)

    status = subparsers.add_parser(
        "status",
        help="identity, expiry countdown and FileCache entries (never secrets)",
        description=(
            "Show the FileCache's entries (principal and expiry) and, with role options, the "
            "session's identity and how long its credentials have left."
        ),
    )
    add_role_options(status, required=False)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=run_status)


def countdown(seconds: float) -> str:
    """`1h02m03s`, `4m05s`, `9s`; `expired` at or below zero."""
    if seconds <= 0:
        return "expired"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _identity(session: RefreshableSession) -> dict[str, str]:
    sts = session.client("sts", region_name=session.region_name or "us-east-1")
    answer = sts.get_caller_identity()
    return {key: str(answer[key]) for key in ("UserId", "Account", "Arn")}


def run_whoami(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(_identity(build_session(args)), indent=2) + "\n")
    return 0


def run_status(args: argparse.Namespace) -> int:
    now = _dt.datetime.now(_dt.timezone.utc)
    report: dict[str, Any] = {}
    if args.no_cache:
        open_cache(args)  # refuses --no-cache with --cache-dir before any STS call
    with one_key_warning():
        if has_role(args):
            session = build_session(args)
            creds = snapshot(session)
            report["identity"] = _identity(session)
            if creds.expiration is not None:
                report["expiration"] = rfc3339(creds.expiration)
                report["expires_in"] = int((creds.expiration - now).total_seconds())
        if not args.no_cache:
            report["cache"] = cache_report(cache_directory(args), now)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(_text(report))
    return 0


def _text(report: dict[str, Any]) -> str:
    lines = []
    if "identity" in report:
        lines.append(f"identity  {report['identity']['Arn']}")
        lines.append(f"account   {report['identity']['Account']}")
    if "expiration" in report:
        lines.append(f"expires   {report['expiration']} (in {countdown(report['expires_in'])})")
    if "cache" in report:
        lines.extend(cache_lines(report["cache"], countdown))
    return "\n".join(lines) + "\n"
