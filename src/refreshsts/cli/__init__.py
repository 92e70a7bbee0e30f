"""The `refreshsts` command: credential_process, export, exec, serve, whoami, status and more.

Each command lives in its own module and registers a subparser; `main` turns refreshsts
errors into a message on stderr and an exit status, never a traceback or a secret:
2 for options that can never work (ConfigurationError, usage errors), 1 when no
credentials could be had (RefreshError and other failures).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .. import ConfigurationError, RefreshError, __version__
from .._internal.sts_progress import NOTICE
from .._internal.withheld import withheld
from . import _cache, _cache_process, _credential_process, _exec, _export, _serve, _status
from ._words import in_cli_words

__all__ = ["main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refreshsts",
        description="STS credentials that refresh themselves, for the AWS CLI, shells and "
        "programs in any language.",
    )
    parser.add_argument("--version", action="version", version=f"refreshsts {__version__}")
    _add_verbose(parser, default=0)
    subparsers = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    _credential_process.add_parser(subparsers)
    _export.add_parser(subparsers)
    _exec.add_parser(subparsers)
    _serve.add_parser(subparsers)
    _status.add_parsers(subparsers)
    _cache.add_parser(subparsers)
    _cache_process.add_parser(subparsers)
    _verbose_after_commands(subparsers)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log refreshes to stderr (-vv: debug, including each endpoint request)",
    )


def _verbose_after_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """`-v` after a command (and a subcommand) too; SUPPRESS keeps a `-v` given before it."""
    for command in subparsers.choices.values():
        _add_verbose(command, default=argparse.SUPPRESS)
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _verbose_after_commands(action)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.argv = arguments
    _configure_logging(args.verbose)
    try:
        status: int = args.run(args)
    except ConfigurationError as exc:
        _error(in_cli_words(str(exc)))
        return EXIT_USAGE
    except RefreshError as exc:
        _error(in_cli_words(str(exc)))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # botocore errors and the like: a message, not a traceback
        safe = withheld(exc)
        logging.getLogger("refreshsts.cli").debug("failed", exc_info=safe)
        _error(f"{type(safe).__name__}: {safe}")
        return EXIT_FAILURE
    return status


class _StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is when a record arrives.

    Below its threshold it still shows notices: records the library flags as worth saying
    by default (a slow STS, a duration stepped down).
    """

    threshold = logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.threshold and not getattr(record, NOTICE, False):
            return False
        return bool(super().filter(record))

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, NOTICE, False) and record.levelno < logging.WARNING:
            return f"refreshsts: {record.getMessage()}"
        return super().format(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _configure_logging(verbosity: int) -> None:
    """Warnings (and with -v, refreshes) of the library on stderr, once per process."""
    level = (logging.WARNING, logging.INFO)[verbosity] if verbosity < 2 else logging.DEBUG
    logger = logging.getLogger("refreshsts")
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("refreshsts: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
    handler.threshold = level
    logger.setLevel(min(level, logging.INFO))


def _error(message: str) -> None:
    sys.stderr.write(f"refreshsts: error: {message}\n")
