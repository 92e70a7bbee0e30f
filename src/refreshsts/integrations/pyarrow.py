"""pyarrow: an `S3FileSystem` whose credentials refresh, through the container endpoint.

pyarrow's S3 filesystem is the AWS C++ SDK: it accepts static keys or its own single-hop
AssumeRole, but its default provider chain also reads the container-credentials endpoint
(`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`) and fetches
again before the keys it holds expire. So each session is served by an in-process
`CredentialServer` on loopback, and the filesystem is built with those two variables set.

That chain tries environment keys, the profile in the shared files and web identity first, and
reloads the shared files every few minutes; when any of them holds credentials the endpoint
would lose, so the filesystem is then s3fs behind `pyarrow.fs.PyFileSystem`, signed by the
session itself.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, cast

from .._internal import forks
from .._internal.default_chain import credentials_before_container
from ..credential_server import CredentialServer
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..session import RefreshableSession

__all__ = ["pyarrow_filesystem"]

logger = logging.getLogger("refreshsts")

_OWN_OPTIONS = ("access_key", "secret_key", "session_token", "role_arn", "anonymous")
_FSSPEC_OPTIONS = frozenset(
    {"region", "endpoint_override", "scheme", "connect_timeout", "request_timeout"}
)
_servers: dict[str, CredentialServer] = {}
_lock = threading.RLock()


def _after_fork_in_child() -> None:
    """A child serves its own endpoints: the parent's threads, and maybe its lock, stayed there."""
    global _lock
    _lock = threading.RLock()
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
    """A pyarrow filesystem for S3 on `session`'s refreshing credentials.

    A `pyarrow.fs.S3FileSystem` reading an in-process container-credentials endpoint. When
    the AWS C++ SDK's default chain would find credentials before that endpoint (keys in the
    environment, `AWS_PROFILE` or `[default]` credentials in the shared files, web identity),
    it is instead `pyarrow.fs.PyFileSystem(FSSpecHandler(s3fs.S3FileSystem(...)))` on
    `session.storage_options()`, and an INFO log says why. The filesystem works in this
    process only: pickled to another one the S3FileSystem would read that process's chain.

    Args:
        session: A `refreshsts.RefreshableSession` (or its `refreshsts.aio` twin).
        **s3_options: `pyarrow.fs.S3FileSystem` options such as `endpoint_override=`,
            `scheme=`, `region=` (default: the session's region). On the s3fs route only
            `endpoint_override`, `scheme`, `region`, `connect_timeout` and `request_timeout`
            are understood.

    Returns:
        A `pyarrow.fs.FileSystem` whose requests are signed with the session's credentials.

    Raises:
        ConfigurationError: `s3_options` hold keys or a role of their own; or the C++ SDK
            would sign with other credentials and s3fs, the other route, is missing or
            cannot take an option.
    """
    given = sorted(set(_OWN_OPTIONS) & set(s3_options))
    if given:
        raise ConfigurationError(
            f"pyarrow_filesystem: {', '.join(given)} would replace the session's credentials; "
            "leave them out"
        )
    from pyarrow import fs  # noqa: PLC0415 - optional dependency

    sync = cast("RefreshableSession", getattr(session, "sync", session))
    options = {"region": sync.region_name, **s3_options}
    if options["region"] is None:
        del options["region"]
    with _lock:
        shadows = credentials_before_container(os.environ)
        if not shadows:
            return _container_filesystem(fs, sync, options)
    return _fsspec_filesystem(fs, sync, options, shadows)


def _container_filesystem(fs: Any, session: RefreshableSession, options: dict[str, Any]) -> Any:
    """`fs.S3FileSystem` built while the endpoint's two variables are set (under `_lock`)."""
    server = _server_for(session)
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


def _fsspec_filesystem(
    fs: Any, session: RefreshableSession, options: dict[str, Any], shadows: list[str]
) -> Any:
    """s3fs on `session.storage_options()` behind pyarrow, with `options` translated."""
    problem = (
        f"the AWS C++ SDK would sign with other credentials than the session's "
        f"({'; '.join(shadows)})"
    )
    fixes = (
        "unset those variables, or point AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE at "
        "files without those credentials for this process"
    )
    unknown = sorted(set(options) - _FSSPEC_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"pyarrow_filesystem: {problem}, and the s3fs route cannot take "
            f"{', '.join(unknown)}: {fixes}, or leave those options out"
        )
    try:
        import s3fs  # noqa: PLC0415 - optional dependency

        storage = session.storage_options()
    except ImportError as exc:
        raise ConfigurationError(
            f"pyarrow_filesystem: {problem}: {fixes}, or pip install 'refreshsts[s3fs]' "
            "to read through pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler("
            "s3fs.S3FileSystem(**session.storage_options())))"
        ) from exc
    client_kwargs = dict(storage.get("client_kwargs", {}))
    config_kwargs = dict(storage.get("config_kwargs", {}))
    if "region" in options:
        client_kwargs["region_name"] = options["region"]
    scheme = str(options.get("scheme", "https"))
    endpoint = options.get("endpoint_override")
    if endpoint:
        endpoint = str(endpoint)
        client_kwargs["endpoint_url"] = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
    elif scheme == "http":
        storage["use_ssl"] = False
    if "connect_timeout" in options:
        config_kwargs["connect_timeout"] = options["connect_timeout"]
    if "request_timeout" in options:
        config_kwargs["read_timeout"] = options["request_timeout"]
    storage["client_kwargs"] = client_kwargs
    if config_kwargs:
        storage["config_kwargs"] = config_kwargs
    logger.info(
        "pyarrow_filesystem: %s; reading through s3fs behind pyarrow.fs.PyFileSystem instead "
        "(slower, signed by refreshsts directly)",
        problem,
    )
    return fs.PyFileSystem(fs.FSSpecHandler(s3fs.S3FileSystem(**storage)))
