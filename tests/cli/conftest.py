"""Fixtures for the `refreshsts` command: run it, and the AWS CLI, as real subprocesses.

Every test gets its own cache directory through XDG_CACHE_HOME, so the default FileCache of
one test never serves another.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class _Refusing(BaseHTTPRequestHandler):
    DENIED = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        b"<Message>refused by the test</Message></Error></ErrorResponse>"
    )

    def do_POST(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(403)
        self.send_header("Content-Length", str(len(self.DENIED)))
        self.end_headers()
        self.wfile.write(self.DENIED)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """An STS on loopback that refuses everything, and an environment that signs for it.

    Yields the list of requests it received, for tests that count STS calls made by `main()`.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{server.server_port}")
    try:
        yield server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
