"""pyarrow: an `S3FileSystem` whose credentials refresh, through the container endpoint.

pyarrow's S3 filesystem is the AWS C++ SDK: it accepts static keys or its own single-hop
AssumeRole, but its default provider chain also reads the container-credentials endpoint
(`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`) and fetches
again before the keys it holds expire. So each session is served by an in-process
`CredentialServer` on loopback, and the filesystem is built with those two variables set.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, cast

from .._internal import forks
from ..credential_server import CredentialServer
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..session import RefreshableSession

__all__ = ["pyarrow_filesystem"]

_SHADOWING = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_servers: dict[str, CredentialServer] = {}
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A child serves its own endpoints: the parent's threads, and maybe its lock, stayed there."""
    global _lock
    _lock = threading.Lock()
    _servers.clear()


forks.on_fork_in_child(_after_fork_in_child)


def _server_for(session: RefreshableSession) -> CredentialServer:
    """One endpoint per session recipe per process, kept for the life of the process."""
    token = session.__dask_tokenize__()
    with _lock:
        server = _servers.get(token)
        if server is None:
            server = CredentialServer(session).start()
            _servers[token] = server
        return server


def pyarrow_filesystem(session: RefreshableSession, **s3_options: Any) -> Any:
    """A `pyarrow.fs.S3FileSystem` on `session`'s refreshing credentials.

    `s3_options` pass through (`endpoint_override=`, `scheme=`, `region=`, ...); `region`
    defaults to the session's. Keys passed here or set in `AWS_ACCESS_KEY_ID` would win over
    the endpoint and are refused. The filesystem works in this process only: pickled to
    another one it would read that process's default credentials.
    """
    from pyarrow import fs  # noqa: PLC0415 - optional dependency

    given = sorted(
        {"access_key", "secret_key", "session_token", "role_arn", "anonymous"} & set(s3_options)
    )
    if given:
        raise ConfigurationError(
            f"pyarrow_filesystem: {', '.join(given)} would replace the session's credentials; "
            "leave them out"
        )
    shadowing = [name for name in _SHADOWING if os.environ.get(name)]
    if shadowing:
        raise ConfigurationError(
            f"pyarrow_filesystem: {', '.join(shadowing)} is set in the environment and the AWS "
            "C++ SDK would use it before the refreshing endpoint; unset it"
        )
    sync = cast("RefreshableSession", getattr(session, "sync", session))
    server = _server_for(sync)
    options = {"region": session.region_name, **s3_options}
    if options["region"] is None:
        del options["region"]
    with _lock:
        saved = {name: os.environ.get(name) for name in server.env}
        os.environ.update(server.env)
        try:
            return fs.S3FileSystem(**options)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
