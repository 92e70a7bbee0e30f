"""`refreshsts exec -- CMD`: run CMD with a private container-credentials endpoint.

The child's SDK reads `AWS_CONTAINER_CREDENTIALS_FULL_URI` and asks the endpoint again
whenever its credentials near expiry, so it keeps working for as long as it runs. The
variables that botocore would read before the endpoint are removed from its environment, and
so is every `REFRESHSTS_*` variable (the cache key, the Redis URL): the child gets
credentials, never what guards or locates ours.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from types import FrameType

from .._internal.default_chain import (
    CONFIG_CREDENTIAL_KEYS,
    config_file,
    credentials_file,
    section_has,
)
from ._credentials import snapshot
from ._options import add_command, add_role_options, build_session, command_of
from ._server import CredentialServer

__all__ = ["add_parser", "child_environment", "run"]

URI_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
TOKEN_ENV = "AWS_CONTAINER_AUTHORIZATION_TOKEN"  # noqa: S105 - a variable name

SHADOWING = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)
"""Variables botocore reads before the container endpoint (or instead of its token)."""

PRIVATE_PREFIX = "REFRESHSTS_"
"""Our own variables, such as the cache key and the Redis URL, which the child never sees."""

_FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "exec",
        help="run a command whose AWS SDK gets refreshing credentials from a local endpoint",
        description=(
            "Run COMMAND with AWS_CONTAINER_CREDENTIALS_FULL_URI and "
            "AWS_CONTAINER_AUTHORIZATION_TOKEN pointing at a credential endpoint on 127.0.0.1 "
            "that lives as long as the command. Its exit status is passed through; SIGINT, "
            "SIGTERM and SIGHUP are forwarded to it."
        ),
    )
    add_role_options(parser)
    add_command(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    command = command_of(args, "exec needs a command: refreshsts exec --role-arn ARN -- CMD")
    session = build_session(args)
    snapshot(session)  # fail before starting the command when no credentials can be had
    region = args.region
    if region is None and not (
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    ):
        region = session.region_name
    with CredentialServer(default=session) as server:
        env = child_environment(os.environ, uri=server.uri(), token=server.token, region=region)
        return _run_child(command, env)


def child_environment(
    parent: Mapping[str, str], *, uri: str, token: str, region: str | None = None
) -> dict[str, str]:
    """The parent's environment pointed at the endpoint, without what would shadow it.

    `REFRESHSTS_*` variables stay behind too: the cache key and the Redis URL would let the
    command read and plant entries of every cache this user has.
    """
    env = {
        name: value
        for name, value in parent.items()
        if name not in SHADOWING and not name.upper().startswith(PRIVATE_PREFIX)
    }
    env[URI_ENV] = uri
    env[TOKEN_ENV] = token
    if region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
    _bypass_http_proxies(env, uri)
    _hide_default_profile_keys(env)
    return env


def _bypass_http_proxies(env: MutableMapping[str, str], uri: str) -> None:
    """Keep the token off any HTTP proxy the environment names."""
    if not any(env.get(name) for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")):
        return
    host = uri.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
    for name in ("no_proxy", "NO_PROXY"):
        hosts = [entry for entry in env.get(name, "").split(",") if entry]
        if host not in hosts:
            env[name] = ",".join([*hosts, host])


def _hide_default_profile_keys(env: MutableMapping[str, str]) -> None:
    """botocore prefers a [default] profile's credentials to the endpoint: hide or warn.

    Keys in the shared credentials file are hidden by pointing the child at an empty one;
    credentials configured in the config file's [default] cannot be, so they are reported.
    """
    shared = credentials_file(env)
    if section_has(shared, "default", ("aws_access_key_id",)):
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        _note(f"hiding {shared} from the command: its [default] keys would win over the role")
    config = config_file(env)
    if section_has(config, "default", CONFIG_CREDENTIAL_KEYS):
        _note(
            f"warning: the [default] profile of {config} configures credentials, which the "
            "command's SDK uses instead of the role; move them to a named profile"
        )


def _note(message: str) -> None:
    sys.stderr.write(f"refreshsts: {message}\n")


def _run_child(command: list[str], env: dict[str, str]) -> int:
    """Run `command`, forwarding signals; its exit status, or 128 + signal number."""
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        del frame
        if signum == signal.SIGINT and _terminal_signals_our_group():
            return  # the terminal sent Ctrl-C to the child as well
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        try:
            child = subprocess.Popen(command, env=env)  # noqa: S603 - the user's own command
        except FileNotFoundError:
            _note(f"{command[0]}: command not found")
            return 127
        except PermissionError:
            _note(f"{command[0]}: permission denied")
            return 126
        for signum in pending:
            child.send_signal(signum)
        returncode = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - returncode if returncode < 0 else returncode


def _terminal_signals_our_group() -> bool:
    """Whether we run in the foreground of a terminal, whose Ctrl-C reaches the child too."""
    if not hasattr(os, "tcgetpgrp"):
        return False
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False
