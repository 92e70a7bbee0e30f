"""The role and cache options every command shares, turned into a RefreshableSession."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from botocore.config import Config

from .. import (
    AssumeRole,
    ConfigurationError,
    CredentialCache,
    FileCache,
    NoCache,
    RefreshableSession,
)
from ..hops import default_session_name

__all__ = [
    "add_cache_dir",
    "add_cache_options",
    "add_command",
    "add_role_options",
    "build_session",
    "command_of",
    "has_role",
    "open_cache",
    "sts_config",
]


def add_role_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """`--role-arn ...` (a chain, first hop first) or `--from-profile`, and their settings."""
    group = parser.add_argument_group("role")
    what = group.add_mutually_exclusive_group(required=required)
    what.add_argument(
        "--role-arn",
        action="append",
        dest="role_arns",
        metavar="ARN",
        help="role to assume; repeat for a chain, first hop first",
    )
    what.add_argument(
        "--from-profile",
        metavar="NAME",
        help="read the role chain from this profile of ~/.aws/config",
    )
    group.add_argument(
        "--source-profile",
        "--profile",
        dest="source_profile",
        metavar="PROFILE",
        help="profile whose credentials sign the first hop (default: the default chain); "
        "--profile, as in the AWS CLI, is the same option",
    )
    group.add_argument(
        "--session-name",
        metavar="NAME",
        help=f"RoleSessionName of every hop (default: {default_session_name()})",
    )
    group.add_argument("--external-id", metavar="ID", help="ExternalId of the last hop")
    group.add_argument(
        "--duration",
        metavar="DURATION",
        help="seconds, '15m', '1h', '12h', or 'max' (each hop's longest); a duration a hop "
        "cannot have is refused",
    )
    group.add_argument("--region", metavar="REGION", help="STS and client region")
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_timeout,
        help="seconds each STS attempt may take to connect and to answer (0.1-300; default: "
        "3 and 5 for a first fetch, 5 and 10 for a refresh), 3 attempts",
    )
    add_cache_options(parser)


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cache")
    add_cache_dir(group)
    group.add_argument(
        "--no-cache", action="store_true", help="keep credentials in this process only"
    )


def add_cache_dir(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="FileCache directory (default: $XDG_CACHE_HOME/refreshsts or ~/.cache/refreshsts)",
    )


def add_command(parser: argparse.ArgumentParser) -> None:
    """`-- COMMAND [ARGS...]`: everything after the options, `--` included."""
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")


def command_of(args: argparse.Namespace, missing: str) -> list[str]:
    """The words of COMMAND without the `--` before them; ConfigurationError(`missing`) if none."""
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise ConfigurationError(missing)
    return command


def has_role(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "role_arns", None) or getattr(args, "from_profile", None))


def open_cache(args: argparse.Namespace) -> CredentialCache:
    """The FileCache shared by every refreshsts process of this user, unless --no-cache."""
    if args.no_cache:
        if args.cache_dir is not None:
            raise ConfigurationError("--no-cache and --cache-dir contradict each other")
        return NoCache()
    return FileCache(args.cache_dir)


def build_session(
    args: argparse.Namespace, role_arns: Sequence[str] | None = None
) -> RefreshableSession:
    """The session the options describe (or the chain `role_arns` with the same settings).

    Options that can never work are a ConfigurationError, raised before any STS call.
    """
    if role_arns is None and args.from_profile is not None:
        return _from_profile(args)
    arns: Sequence[str] = role_arns if role_arns is not None else args.role_arns
    hops = [
        AssumeRole(
            arn,
            session_name=args.session_name,
            external_id=args.external_id if index == len(arns) - 1 else None,
        )
        for index, arn in enumerate(arns)
    ]
    return RefreshableSession(
        *hops,
        source=args.source_profile,
        region=args.region,
        duration=args.duration,
        cache=open_cache(args),
        sts_config=sts_config(args),
    )


def sts_config(args: argparse.Namespace) -> Config | None:
    """The STS clients' timeouts `--timeout` asks for (None: the library's)."""
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        return None
    return Config(connect_timeout=timeout, read_timeout=timeout)


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= seconds <= 300:
        raise argparse.ArgumentTypeError(f"{text} is out of range: 0.1-300 seconds")
    return seconds


def _from_profile(args: argparse.Namespace) -> RefreshableSession:
    extra = [
        flag
        for flag, value in (
            ("--source-profile", args.source_profile),
            ("--session-name", args.session_name),
            ("--external-id", args.external_id),
        )
        if value is not None
    ]
    if extra:
        raise ConfigurationError(
            f"--from-profile {args.from_profile} reads the chain from the profile; "
            f"set {', '.join(extra)} there instead"
        )
    overrides: dict[str, Any] = {"cache": open_cache(args)}
    if args.region is not None:
        overrides["region"] = args.region
    if args.duration is not None:
        overrides["duration"] = args.duration
    config = sts_config(args)
    if config is not None:
        overrides["sts_config"] = config
    return RefreshableSession.from_profile(args.from_profile, **overrides)
