"""`refreshsts cache-process -- COMMAND`: a credential_process that runs COMMAND only when due.

okta-aws-cli, saml2aws, aws_signing_helper and their kind print new credentials on every
run, and the AWS CLI runs them for every command. Wrapped, COMMAND runs only when the
FileCache holds nothing fresh for it (nothing before its advisory refresh window, never
anything expired); concurrent runs wait for the one running it (flock); with
REFRESHSTS_CACHE_KEY its output is sealed at rest. COMMAND's stderr is ours, so its prompts
and errors reach the user; a failing COMMAND's exit status is ours, and nothing is cached.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass

from .. import FileCache, OnDemandRefresh, RefreshableSession, RefreshWindows
from ..credential_process import DEFAULT_TIMEOUT, MAX_TIMEOUT, CredentialProcess
from ..credential_process import CredentialProcessFailed as Failed
from ._credential_process import guard_against_loops, write_version1
from ._credentials import Snapshot
from ._options import add_cache_dir, add_command, command_of

__all__ = ["add_parser", "run"]

LOOP = (
    "cache-process is already running further up with the same command: the credentials "
    "COMMAND asks for lead back to this credential_process (does COMMAND use the profile "
    "that runs it, or AWS_PROFILE name that profile?)"
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cache-process",
        help="wrap a credential_process command: run it only when the cache has nothing fresh",
        description=(
            "Print the Version 1 JSON of COMMAND, a credential_process, from the FileCache "
            "while it is fresh, running COMMAND only when it is not. Concurrent runs wait "
            "for the one running COMMAND. COMMAND's stderr passes through; when it fails, "
            "its exit status is returned and nothing is cached. Output without an "
            "Expiration is never cached."
        ),
    )
    add_cache_dir(parser.add_argument_group("cache"))
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"stop COMMAND after this long (default: {DEFAULT_TIMEOUT:g}; up to "
        f"{MAX_TIMEOUT:g} for interactive sign-ins)",
    )
    add_command(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    command = command_of(
        args,
        "cache-process needs the command to wrap: refreshsts cache-process -- COMMAND [ARGS...]",
    )
    source = CredentialProcess(command, timeout=args.timeout)
    source.pass_stderr = True
    session = RefreshableSession(
        source=source,
        cache=FileCache(args.cache_dir),
        refresh=OnDemandRefresh(),
        windows=_PrintWindows(),
    )
    try:
        with guard_against_loops(args.argv, LOOP):
            creds = session.get_credentials().get_temporary_credentials()
    except Failed as exc:
        sys.stderr.write(f"refreshsts: error: {exc}\n")
        return _status(exc.returncode)
    write_version1(Snapshot.of(creds))
    return 0


@dataclass(frozen=True)
class _PrintWindows(RefreshWindows):
    """The library's windows, but keys inside the mandatory window are never printed.

    A process holding keys may use them to the last seconds; the AWS CLI takes what is
    printed for a whole command. So when COMMAND fails and the entry has less than the
    mandatory window left, COMMAND's error is ours, not the old keys.
    """

    def margin(self, lifetime: float) -> float:  # type: ignore[override]
        return self.mandatory(lifetime)


def _status(returncode: int) -> int:
    """COMMAND's exit status as ours; a signal as a shell reports it (128 + its number)."""
    if returncode < 0:
        return 128 + -returncode if -returncode in signal.valid_signals() else 1
    return returncode


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range: above 0, at most {MAX_TIMEOUT:g}"
        )
    return seconds
