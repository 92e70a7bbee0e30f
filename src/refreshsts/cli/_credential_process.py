"""`refreshsts credential-process`: the JSON the AWS CLI and SDKs read from `credential_process`.

The AWS CLI does not cache what a credential process prints, so every `aws` call runs it
again; the FileCache makes those runs read the file instead of calling STS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .. import ConfigurationError
from ._credentials import Snapshot, rfc3339, snapshot
from ._options import add_role_options, build_session

__all__ = ["add_parser", "guard_against_loops", "run", "write_version1"]

STACK_ENV = "REFRESHSTS_CREDENTIAL_PROCESS_STACK"
"""Digests of the credential-process command lines running above this one."""
LOOP = (
    "credential-process is already running further up with the same options: the source "
    "credentials lead back to this credential_process (is AWS_PROFILE set to the profile that "
    "runs it?); give --source-profile a profile that holds keys"
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "credential-process",
        help="print credentials for a profile's credential_process (Version 1 JSON)",
        description=(
            "Print the Version 1 JSON that credential_process in ~/.aws/config expects. "
            "Credentials come from the FileCache while they are fresh, so repeated runs "
            "make one STS call per credential lifetime."
        ),
    )
    add_role_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    session = build_session(args)
    with guard_against_loops(args.argv):
        creds = snapshot(session)
    write_version1(creds)
    return 0


def write_version1(creds: Snapshot) -> None:
    """Print `creds` as the Version 1 JSON a credential_process prints, on stdout."""
    output: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
    }
    if creds.session_token is not None:
        output["SessionToken"] = creds.session_token
    if creds.expiration is not None:
        output["Expiration"] = rfc3339(creds.expiration)
    if creds.account_id is not None:
        output["AccountId"] = creds.account_id
    sys.stdout.write(json.dumps(output, indent=2) + "\n")


@contextmanager
def guard_against_loops(argv: Sequence[str], loop: str = LOOP) -> Iterator[None]:
    """Refuse to run inside an identical run of ourselves (saying `loop`): a profile that
    sources itself.

    `AWS_PROFILE=x aws ...` with no `--source-profile` makes the default chain read profile
    x, whose credential_process is this very command line, and so on forever.
    """
    digest = hashlib.sha256(json.dumps(list(argv)).encode()).hexdigest()[:16]
    stack = [entry for entry in os.environ.get(STACK_ENV, "").split(",") if entry]
    if digest in stack:
        raise ConfigurationError(loop)
    previous = os.environ.get(STACK_ENV)
    os.environ[STACK_ENV] = ",".join([*stack, digest])
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(STACK_ENV, None)
        else:
            os.environ[STACK_ENV] = previous
