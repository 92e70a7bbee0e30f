"""Helpers for the `refreshsts` command tests (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

REFRESHSTS = [sys.executable, "-m", "refreshsts"]
AWS = [sys.executable, "-m", "awscli"]
PROFILE = "ststestprofile"


def run(
    command: list[str], *, timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run `command` to its end, capturing text output; never raises for an exit status."""
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def role_args(world: Any, *extra: str) -> list[str]:
    """`--role-arn <world role> --source-profile ststestprofile --region us-west-2 ...`."""
    return [
        "--role-arn",
        world.role_arn,
        "--source-profile",
        PROFILE,
        "--region",
        "us-west-2",
        *extra,
    ]


def leaks(text: str, *secrets: str | None) -> list[str]:
    """The secrets that appear in `text` (an empty list when none does)."""
    return [secret for secret in secrets if secret and secret in text]


def environ(**changes: str | None) -> dict[str, str]:
    """This process's environment with `changes` applied (None removes a variable)."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@contextlib.contextmanager
def serve_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`refreshsts serve ARGS` as a process with text pipes, killed if left running."""
    process = subprocess.Popen(
        [*REFRESHSTS, "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
