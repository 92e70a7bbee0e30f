"""`refreshsts serve`: a long-running credential endpoint for several named roles, or IMDS."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import TypeVar

from .. import ConfigurationError, RefreshableSession
from ._credentials import snapshot
from ._imds import ImdsServer
from ._options import add_role_options, build_session, has_role
from ._server import CredentialServer, LoopbackEndpoint, loopback_address

__all__ = ["add_parser", "run"]

_E = TypeVar("_E", bound=LoopbackEndpoint)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve refreshing credentials for several roles on a loopback endpoint",
        description=(
            "Serve the container-credentials endpoint until stopped: the --role-arn chain "
            "(or --from-profile, else the first --role) at /, each --role NAME=ARN at "
            "/role/NAME. Requests without the authorization token get 403. Only loopback "
            "addresses are served. With --imds, one role as EC2 instance metadata (IMDSv2) "
            "instead, for tools that read nothing else."
        ),
    )
    add_role_options(parser, required=False)
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        dest="roles",
        metavar="NAME=ARN[,ARN...]",
        help="a named role (a chain when several ARNs), served at /role/NAME; repeatable",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=0, help="TCP port, 0 to 65535 (default 0: a free one)"
    )
    imds = parser.add_argument_group("instance metadata")
    imds.add_argument(
        "--imds",
        action="store_true",
        help=(
            "serve the --role-arn chain (or --from-profile) as EC2 instance metadata (IMDSv2) "
            "for tools that read nothing else; no authorization token: any local process can "
            "read the credentials"
        ),
    )
    imds.add_argument(
        "--imds-role-name",
        metavar="NAME",
        help="role name IMDS lists (default: the name in the last hop's role ARN)",
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help=(
            "write the token to the new file PATH (mode 0600; an existing PATH is refused) "
            "instead of printing it; removed on exit"
        ),
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loopback_address(args.host)  # refuse a wrong --host before touching credentials
    if args.imds or args.imds_role_name is not None:
        return _run_imds(args)
    roles = _named_roles(args)
    if not roles and not has_role(args):
        raise ConfigurationError(
            "serve needs --role-arn ARN, --from-profile NAME or --role NAME=ARN"
        )
    default = build_session(args) if has_role(args) else next(iter(roles.values()))
    server = _bind(
        args, lambda: CredentialServer(roles, default=default, host=args.host, port=args.port)
    )
    token_file = Path(args.token_file) if args.token_file else None
    token_fd: int | None = None
    try:
        if token_file is not None:
            token_fd = _write_secret(token_file, server.token)
        _serve_until_stopped(
            server, (default, *roles.values()), lambda: _announce(server, token_file)
        )
    finally:
        server.stop()
        if token_fd is not None and token_file is not None:
            _remove_if_ours(token_file, token_fd)
    return 0


def _run_imds(args: argparse.Namespace) -> int:
    """`serve --imds`: one role, as EC2 instance metadata, until stopped."""
    if not args.imds:
        raise ConfigurationError("--imds-role-name is for --imds")
    for given, option in ((args.roles, "--role"), (args.token_file, "--token-file")):
        if given:
            raise ConfigurationError(
                f"--imds serves one role without a token: {option} is for the container "
                "endpoint (serve without --imds)"
            )
    if not has_role(args):
        raise ConfigurationError("serve --imds needs --role-arn ARN or --from-profile NAME")
    session = build_session(args)
    server = _bind(
        args,
        lambda: ImdsServer(session, role_name=args.imds_role_name, host=args.host, port=args.port),
    )
    try:
        _serve_until_stopped(server, (session,), lambda: _announce_imds(server))
    finally:
        server.stop()
    return 0


def _bind(args: argparse.Namespace, listen: Callable[[], _E]) -> _E:
    """Bind first: a port that cannot be had is refused before any credentials are fetched."""
    try:
        return listen()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {args.host} port {args.port}: {exc.strerror or exc}"
        ) from None


def _serve_until_stopped(
    server: LoopbackEndpoint,
    sessions: Iterable[RefreshableSession],
    announce: Callable[[], None],
) -> None:
    """Fetch each session's credentials once, announce, serve until SIGTERM or Ctrl-C."""
    for session in sessions:
        snapshot(session)  # refuse to start with a role that cannot be assumed
    # SIGTERM is a clean stop from the announcement on: a caller may stop us once it has it
    signal.signal(signal.SIGTERM, _exit_quietly)
    with contextlib.suppress(KeyboardInterrupt):
        announce()
        server.serve_forever()


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def _named_roles(args: argparse.Namespace) -> dict[str, RefreshableSession]:
    roles: dict[str, RefreshableSession] = {}
    for spec in args.roles:
        name, sep, arns = spec.partition("=")
        if not sep or not name or not arns or "/" in name:
            raise ConfigurationError(
                f"--role {spec!r}: write NAME=ARN (or NAME=ARN,ARN for a chain); NAME has no '/'"
            )
        if name in roles:
            raise ConfigurationError(f"--role {name} is given twice")
        roles[name] = build_session(args, [arn.strip() for arn in arns.split(",")])
    return roles


def _announce(server: CredentialServer, token_file: Path | None) -> None:
    """URIs on stdout; the token only in its file, or once on stderr (never logged)."""
    lines = [f"export AWS_CONTAINER_CREDENTIALS_FULL_URI={server.uri()}"]
    if token_file is not None:
        lines.append(f"export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={token_file.absolute()}")
    lines += [f"# role {name}: {server.uri(name)}" for name in sorted(server.roles)]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    if token_file is None:
        sys.stderr.write(f"export AWS_CONTAINER_AUTHORIZATION_TOKEN={server.token}\n")
        sys.stderr.flush()


def _announce_imds(server: ImdsServer) -> None:
    """The variables SDKs read on stdout; no secret: IMDS has none before its token PUT."""
    region = f", region {server.region}" if server.region else ""
    sys.stdout.write(
        f"export AWS_EC2_METADATA_SERVICE_ENDPOINT={server.endpoint_url}\n"
        "export AWS_EC2_METADATA_DISABLED=false\n"
        f"# role {server.role_name}{region}: IMDSv2 only, readable by any local process\n"
    )
    sys.stdout.flush()


def _write_secret(path: Path, text: str) -> int:
    """Create `path` (mode 0600) holding `text`; its descriptor, kept to know it again on exit.

    An existing path is refused, whatever it is: truncating it would destroy someone's file,
    and a link would send the token wherever its owner chose.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
    except FileExistsError:
        raise ConfigurationError(
            f"--token-file {str(path)!r} already exists: refusing to overwrite it (a file left "
            "by a stopped serve holds a dead token); remove it or name a new path"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"--token-file {str(path)!r} cannot be created: {exc.strerror or exc}"
        ) from None
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)
    os.write(fd, text.encode("utf-8"))
    return fd


def _remove_if_ours(path: Path, fd: int) -> None:
    """Remove the token file we created, never whatever has replaced it since.

    While our descriptor keeps the file alive its inode number cannot be reused, so a path
    with the same device and inode is still our file.
    """
    try:
        ours = os.fstat(fd)
        now = path.lstat()
        if ours.st_nlink and (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino):
            path.unlink()
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt
