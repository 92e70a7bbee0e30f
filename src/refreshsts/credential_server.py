"""CredentialServer: the loopback container-credentials endpoint `refreshsts exec` uses, in-process.

Every AWS SDK (the C++ SDK under pyarrow, Rust's object_store under delta-rs and polars, Go,
Java, Node) reads `AWS_CONTAINER_CREDENTIALS_FULL_URI` with
`AWS_CONTAINER_AUTHORIZATION_TOKEN` and fetches again as the keys it holds near their expiry,
so serving a refreshing session there hands refreshed keys to code refreshsts cannot reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .session import RefreshableSession

__all__ = ["CredentialServer"]


class CredentialServer:
    """Serve `session`'s credentials on a loopback port with a random token, from a thread.

    ```python
    with refreshsts.CredentialServer(session) as server:
        os.environ.update(server.env)
    ```
    Binds only loopback addresses; a request without the token gets 403. The token is a
    secret: `repr` never shows it.

    Args:
        session: The RefreshableSession (sync or `refreshsts.aio`) whose credentials to serve.
        host: A loopback address to bind.
        port: The port, or 0 for a free one.
        token: The authorization token clients must send; by default a random one.

    Raises:
        ConfigurationError: `session` is not a refreshsts session, or `host` is not loopback.
    """

    def __init__(
        self,
        session: RefreshableSession | Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        from .cli._server import CredentialServer as _Server  # noqa: PLC0415 - keep import light
        from .session import RefreshableSession  # noqa: PLC0415

        sync = getattr(session, "sync", session)
        if not isinstance(sync, RefreshableSession):
            raise ConfigurationError(
                f"session={type(session).__name__} is not a refreshsts.RefreshableSession "
                "(sync or refreshsts.aio)"
            )
        self.session = sync
        self._server = _Server(default=sync, host=host, port=port, token=token)

    @property
    def uri(self) -> str:
        """The `AWS_CONTAINER_CREDENTIALS_FULL_URI` value."""
        uri: str = self._server.uri()
        return uri

    @property
    def token(self) -> str:
        """The `AWS_CONTAINER_AUTHORIZATION_TOKEN` value (a secret)."""
        token: str = self._server.token
        return token

    @property
    def env(self) -> dict[str, str]:
        """The two environment variables an SDK needs to find and use this endpoint."""
        return {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": self.uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.token,
        }

    def start(self) -> CredentialServer:
        """Answer from a daemon thread until `stop()`."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._server.stop()

    def __enter__(self) -> CredentialServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"CredentialServer({self.session!r}, uri={self.uri!r})"

    def __reduce__(self) -> Any:
        raise TypeError("a CredentialServer is a live socket and holds a token: not picklable")
