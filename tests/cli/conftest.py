"""Fixtures for the `refreshsts` command: run it, and the AWS CLI, as real subprocesses.

Every test gets its own cache directory through XDG_CACHE_HOME, so the default FileCache of
one test never serves another.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import AWS, REFRESHSTS, run

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_CACHE_HOME of this test: the default FileCache lives in `cache_home/refreshsts`."""
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def cli(cache_home: Path) -> Runner:
    """Run `python -m refreshsts ARGS...` in the current (monkeypatched) environment."""

    def call(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run([*REFRESHSTS, *args], **kwargs)

    return call


@pytest.fixture
def aws(cache_home: Path) -> Runner:
    """Run the AWS CLI of this interpreter (`python -m awscli ARGS...`)."""

    def call(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run([*AWS, *args], **kwargs)

    return call
