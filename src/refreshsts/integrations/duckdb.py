"""DuckDB: an S3 secret on a refreshing session, replaced before each refresh deadline."""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigurationError, RefreshstsError
from ._lease import lease

if TYPE_CHECKING:
    from ..session import RefreshableSession

__all__ = ["DuckDBSecret", "duckdb_secret", "load_httpfs"]

logger = logging.getLogger("refreshsts")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}", re.ASCII)
_OWN_OPTIONS = frozenset({"type", "key_id", "secret", "session_token", "provider", "scope"})
_RETRY = 1.0
_JOIN_TIMEOUT = 30.0


class _Stopped(Exception):
    """The handle was closed, or its connection was, while a replacement was on its way."""


def _connection_closed(exc: BaseException) -> bool:
    """DuckDB's answer once the connection (and so every cursor of it) is closed."""
    return type(exc).__name__ == "ConnectionException" and "closed" in str(exc).lower()


def _literal(name: str, value: object) -> str:
    """`value` as a DuckDB literal; strings are quoted with quotes doubled, never spliced."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigurationError(f"duckdb_secret: {name} must not contain a NUL character")
        return "'" + value.replace("'", "''") + "'"
    raise ConfigurationError(
        f"duckdb_secret: {name}={type(value).__name__} must be a str, int, float or bool"
    )


def load_httpfs(con: Any) -> None:
    """`LOAD httpfs`, from the `duckdb-extension-httpfs` wheel when DuckDB has no copy.

    DuckDB downloads extensions on `INSTALL`, which fails offline; the wheel ships the
    extension built for one DuckDB release, under `extensions/<version>/`.
    """
    try:
        con.execute("LOAD httpfs")
        return
    except Exception as exc:
        first = exc
    version = str(con.execute("SELECT version()").fetchone()[0])
    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    folder = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(folder or ["."]))) / "extensions" / version / "httpfs.duckdb_extension"
    if not path.is_file():
        raise ConfigurationError(
            f"duckdb_secret: DuckDB {version} has no httpfs extension and "
            "duckdb-extension-httpfs has none for it: pip install 'refreshsts[duckdb]' "
            "(it pins a DuckDB release with a matching extension wheel)"
        ) from first
    con.execute(f"LOAD {_literal('httpfs', str(path))}")


class DuckDBSecret:
    """A temporary DuckDB S3 secret kept current by a daemon thread; `close()` drops it.

    The secret is created at once, then replaced at each of refreshsts's mandatory refresh
    points, before the keys it holds expire. It is TEMPORARY: it lives in the database
    instance's memory and is never written to disk. The thread stops by itself when the
    connection is closed without `close()`.

    Args:
        con: A `duckdb.DuckDBPyConnection`; the handle works on a cursor of it.
        session: A `refreshsts.RefreshableSession` (or its `refreshsts.aio` twin).
        name: The secret's name, a SQL identifier.
        scope: A URL prefix the secret is limited to (DuckDB `SCOPE`); None: every S3 URL.
        **secret_options: DuckDB S3 secret options such as `region=`, `endpoint=`,
            `url_style=`, `use_ssl=`, passed as quoted literals.

    Attributes:
        name: The secret's name.
        session: The sync session the keys come from.
        replaced: How many times the secret was created or replaced.
        renew_at: When (epoch seconds) the thread replaces the secret next.

    Raises:
        ConfigurationError: `name` or an option is not accepted, or httpfs cannot be loaded.
        RefreshstsError: DuckDB refused to create the secret (the message holds no key).
    """

    def __init__(
        self,
        con: Any,
        session: RefreshableSession,
        *,
        name: str = "refreshsts",
        scope: str | None = None,
        **secret_options: object,
    ) -> None:
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ConfigurationError(
                f"duckdb_secret: name={name!r} must be a SQL identifier (letters, digits, _; "
                "1-63 characters, not starting with a digit)"
            )
        session = cast("RefreshableSession", getattr(session, "sync", session))  # aio twin
        options: dict[str, str] = {}
        for key, value in secret_options.items():
            if not _IDENTIFIER.fullmatch(key) or key.lower() in _OWN_OPTIONS:
                raise ConfigurationError(
                    f"duckdb_secret: option {key!r} is not accepted: pass S3 secret options "
                    "such as region=, endpoint=, url_style=, use_ssl= (keys come from the "
                    "session)"
                )
            options[key.upper()] = _literal(key, value)
        if scope is not None:
            options["SCOPE"] = _literal("scope", scope)
        options.setdefault("REGION", _literal("region", session.region_name or "us-east-1"))
        self.name = name
        self.session = session
        self._options = options
        self._con = con
        load_httpfs(con)
        self._cursor = con.cursor()
        self._stop = threading.Event()
        self._cursor_lock = threading.Lock()
        self.replaced = 0
        self.renew_at = self._replace(con)
        self._thread = threading.Thread(
            target=self._run, name=f"refreshsts-duckdb-{name}", daemon=True
        )
        self._thread.start()

    def _statement(self, key_id: str, secret: str, token: str | None) -> str:
        fields = {"TYPE": "s3", "KEY_ID": _literal("key_id", key_id)}
        fields["SECRET"] = _literal("secret", secret)
        if token:
            fields["SESSION_TOKEN"] = _literal("session_token", token)
        fields.update(self._options)
        body = ", ".join(f"{key} {value}" for key, value in fields.items())
        return f'CREATE OR REPLACE TEMPORARY SECRET "{self.name}" ({body})'

    def _replace(self, con: Any) -> float:
        current = lease(self.session)
        creds = current.credentials
        statement = self._statement(
            creds.access_key_id, creds.secret_access_key, creds.session_token
        )
        try:
            with self._cursor_lock:
                if self._stop.is_set():
                    raise _Stopped
                con.execute(statement)
        except _Stopped:
            raise
        except Exception as exc:
            if _connection_closed(exc):
                raise _Stopped from None
            # DuckDB quotes the failing statement, which holds the secret key and token.
            message = _scrub(str(exc), creds.secret_access_key, creds.session_token)
            raise RefreshstsError(
                f"duckdb_secret: creating secret {self.name!r} failed: "
                f"{type(exc).__name__}: {message}"
            ) from None
        self.replaced += 1
        # Keys past their refresh point come back while STS is failing: retry later.
        now = time.time()
        return current.renew_at if current.renew_at > now else now + _RETRY

    def _run(self) -> None:
        while not self._stop.wait(max(self.renew_at - time.time(), 0.0)):
            try:
                self.renew_at = self._replace(self._cursor)
            except _Stopped:
                if not self._stop.is_set():
                    logger.info("duckdb secret %s: the connection is closed; stopping", self.name)
                    self._stop.set()
                return
            except Exception as exc:
                logger.warning(
                    "duckdb secret %s: replacing it failed (%s: %s); next attempt in %.0f s",
                    self.name,
                    type(exc).__name__,
                    exc,
                    _RETRY,
                )
                self.renew_at = time.time() + _RETRY

    def close(self) -> None:
        """Stop replacing the secret and drop it from the database.

        A replacement still waiting for STS is dropped when it comes back, never created.
        """
        with self._cursor_lock:
            if self._stop.is_set() and self._cursor is None:
                return
            self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=_JOIN_TIMEOUT)
        with self._cursor_lock:
            cursor, self._cursor = self._cursor, None
            if cursor is None:
                return
            try:
                cursor.execute(f'DROP TEMPORARY SECRET IF EXISTS "{self.name}"')
            except Exception as exc:
                if not _connection_closed(exc):
                    raise
            finally:
                cursor.close()

    def __enter__(self) -> DuckDBSecret:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DuckDBSecret({self.name!r}, {self.session!r}, renew_at={self.renew_at:.0f})"


def duckdb_secret(
    con: Any,
    session: RefreshableSession,
    *,
    name: str = "refreshsts",
    scope: str | None = None,
    **secret_options: object,
) -> DuckDBSecret:
    """Create DuckDB S3 secret `name` from `session` and keep replacing it until `close()`.

    Loads `httpfs` (install `refreshsts[duckdb]`: DuckDB cannot download extensions offline).

    Args:
        con: A `duckdb.DuckDBPyConnection`.
        session: A `refreshsts.RefreshableSession` (or its `refreshsts.aio` twin).
        name: The secret's name, a SQL identifier.
        scope: A URL prefix the secret is limited to; None: every S3 URL.
        **secret_options: DuckDB S3 secret options such as `endpoint=`, `url_style=`,
            `use_ssl=`, `region=`, passed through as quoted literals.

    Returns:
        The handle keeping the secret current; `close()` it (or use it in a `with` block).

    Raises:
        ConfigurationError: `name` or an option is not accepted, or httpfs cannot be loaded.
        RefreshstsError: DuckDB refused to create the secret (the message holds no key).
    """
    return DuckDBSecret(con, session, name=name, scope=scope, **secret_options)


_SECRET_LIKE = re.compile(r"[A-Za-z0-9/+=]{16,}")


def _scrub(message: str, *secrets: str | None) -> str:
    """DuckDB's `message` without the secrets, nor any part of one it may have cut out.

    Keys and tokens are base64 text: every run of 16 or more such characters goes, whole
    secrets first, so a statement quoted in part leaks no usable fragment.
    """
    for secret in secrets:
        if secret:
            message = message.replace(secret, "<redacted>")
    return _SECRET_LIKE.sub("<redacted>", message)
