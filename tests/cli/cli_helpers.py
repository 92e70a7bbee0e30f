"""Helpers for the `refreshsts` command tests (fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
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


@contextlib.contextmanager
def stalled_connections(address: tuple[str, int], count: int) -> Iterator[list[socket.socket]]:
    """`count` connections to `address` that each sent one byte of a request, and no more."""
    stalled = [socket.create_connection(address) for _ in range(count)]
    try:
        for sock in stalled:
            sock.sendall(b"G")
        time.sleep(0.3)
        yield stalled
    finally:
        for sock in stalled:
            sock.close()
