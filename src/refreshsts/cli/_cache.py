"""`refreshsts cache list|clear`: what the FileCache holds (never a secret), and emptying it.

`status` shows the same listing. Neither creates the cache directory to look at it, and a
cache key that does not open the entries is said once, not once per file.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .. import ConfigurationError, FileCache, RedisCache
from ..caches._keys import KEY
from ..caches.file import CachedEntry, default_directory
from ..caches.redis import URL_ENV
from ._credentials import rfc3339
from ._options import add_cache_dir

try:
    import fcntl
except ImportError:  # Windows: lock files are O_EXCL files, removed when stale
    fcntl = None  # type: ignore[assignment]

__all__ = ["add_parser", "cache_directory", "cache_lines", "cache_report", "one_key_warning"]

_ENTRY = ".json"
_FINGERPRINT = "key-fingerprint"
_LOCKS = (".lock", ".xlock")
_KEY_PROBLEMS = (
    "this cache has no key",
    "requires encryption",
    "authentication failed",
    "holds credentials written",
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cache = subparsers.add_parser(
        "cache",
        help="list or clear the FileCache's (or a RedisCache's) entries, never secrets",
        description="List the cache's entries (principal and expiry, never a secret), or "
        "remove them.",
    )
    actions = cache.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="one line per entry: name, expiry, principal")
    _where_options(listing)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run_list)
    clear = actions.add_parser(
        "clear", help="remove the entries and the lock files no process holds"
    )
    _where_options(clear)
    clear.add_argument(
        "--expired",
        action="store_true",
        help="remove only expired entries (and unheld lock files)",
    )
    clear.set_defaults(run=run_clear)


def _where_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    add_cache_dir(where)
    where.add_argument(
        "--redis-url",
        metavar="URL",
        help="a RedisCache instead (redis://host:6379/0; default: REFRESHSTS_REDIS_URL when "
        "set and no --cache-dir is given); entries open with REFRESHSTS_CACHE_KEY",
    )
    parser.add_argument(
        "--namespace", default="refreshsts", help="RedisCache namespace (default: refreshsts)"
    )


def redis_url(args: argparse.Namespace) -> str | None:
    """--redis-url, else REFRESHSTS_REDIS_URL unless --cache-dir names a file cache."""
    if args.redis_url:
        return str(args.redis_url)
    if args.cache_dir:
        return None
    return os.environ.get(URL_ENV, "").strip() or None


def cache_directory(args: argparse.Namespace) -> Path:
    chosen = Path(args.cache_dir).expanduser() if args.cache_dir else default_directory()
    return chosen.absolute()


@contextmanager
def one_key_warning() -> Iterator[None]:
    """Within the block, say once that the cache key does not open the entries.

    The cache warns for each file it cannot open and again for each reader; a command
    reading many entries (and a session reading its own) would repeat the same news.
    """
    logger = logging.getLogger("refreshsts")
    said: list[bool] = []

    def once(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not any(problem in message for problem in _KEY_PROBLEMS):
            return True
        if said:
            return False
        said.append(True)
        record.msg = (
            "the cache holds entries written with another key (or without one, or with one "
            "where this cache has none): they are misses, and STS is called instead; set "
            "REFRESHSTS_CACHE_KEY as the processes that wrote them did, or run `refreshsts "
            "cache clear`"
        )
        record.args = None
        return True

    logger.addFilter(once)
    try:
        yield
    finally:
        logger.removeFilter(once)


def cache_report(directory: Path, now: _dt.datetime) -> dict[str, Any]:
    """The directory's entries without secrets; a missing directory is said, not created."""
    if not directory.is_dir():
        return {"directory": str(directory), "exists": False, "entries": []}
    cache = FileCache(directory)
    entries = [_shown(entry, now) for entry in cache.entries()]
    unreadable = len(_entry_files(directory)) - len(entries)
    return {
        "directory": str(directory),
        "exists": True,
        "encrypted": cache.encrypted,
        "entries": entries,
        "unreadable": unreadable,
    }


def cache_lines(report: dict[str, Any], countdown: Callable[[float], str]) -> list[str]:
    """`cache     DIR (1 entry, encrypted)` and a line per entry."""
    where = report.get("directory") or report["redis"]
    if not report["exists"]:
        return [f"cache     {where} (does not exist yet: nothing cached)"]
    entries = report["entries"]
    count = _count(len(entries), "entry")
    if report.get("unreadable"):
        count += f", {report['unreadable']} not readable with this key"
    sealed = "encrypted" if report["encrypted"] else "not encrypted"
    lines = [f"cache     {where} ({count}, {sealed})"]
    for entry in entries:
        left = countdown(entry["expires_in"])
        lines.append(f"  {entry['key']}  {entry['expiration']}  {left:>10}  {entry['arn'] or '-'}")
    return lines


def redis_report(cache: RedisCache, now: _dt.datetime) -> dict[str, Any]:
    """The namespace's entries without secrets (Redis drops expired ones by itself)."""
    entries = [_shown(entry, now) for entry in cache.entries()]
    return {
        "redis": repr(cache),
        "exists": True,
        "encrypted": cache.encrypted,
        "entries": entries,
        "unreadable": max(cache.count() - len(entries), 0),
    }


def _shown(entry: CachedEntry, now: _dt.datetime) -> dict[str, Any]:
    return {
        "arn": entry.arn,
        "issued": rfc3339(entry.issued),
        "expiration": rfc3339(entry.expiration),
        "expires_in": int((entry.expiration - now).total_seconds()),
        "key": entry.key[:12],
    }


def run_list(args: argparse.Namespace) -> int:
    from ._status import countdown  # noqa: PLC0415 - status imports this module

    now = _dt.datetime.now(_dt.timezone.utc)
    with one_key_warning():
        if redis_url(args):
            report = redis_report(RedisCache(redis_url(args), namespace=args.namespace), now)
        else:
            report = cache_report(cache_directory(args), now)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(cache_lines(report, countdown)) + "\n")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    if redis_url(args):
        return _clear_redis(args)
    directory = cache_directory(args)
    if not directory.is_dir():
        sys.stdout.write(f"cache     {directory} does not exist: nothing to clear\n")
        return 0
    with one_key_warning():
        cache = FileCache(directory)  # refuses a directory that is a symlink or not ours
        expired = {entry.key for entry in cache.entries() if entry.expired}
    removed = 0
    for path in _entry_files(directory):
        name = path.name[: -len(_ENTRY)]
        if args.expired and name not in expired:
            continue
        with suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    locks = sum(_remove_unheld_lock(path) for path in _lock_files(directory))
    if not args.expired:
        with suppress(FileNotFoundError):
            (directory / _FINGERPRINT).unlink()
    entries = _count(removed, "expired entry" if args.expired else "entry")
    sys.stdout.write(f"cache     {directory}: removed {entries} and {_count(locks, 'lock file')}\n")
    return 0


def _clear_redis(args: argparse.Namespace) -> int:
    if args.expired:
        raise ConfigurationError("--expired with --redis-url: Redis removes expired entries itself")
    cache = RedisCache(redis_url(args), namespace=args.namespace)
    removed = cache.clear()
    sys.stdout.write(f"cache     {cache!r}: removed {_count(removed, 'entry')}\n")
    return 0


def _count(number: int, singular: str) -> str:
    """`1 entry`, `2 entries`, `0 lock files`."""
    if number == 1:
        return f"1 {singular}"
    return f"{number} {singular[:-1] + 'ies' if singular.endswith('y') else singular + 's'}"


def _entry_files(directory: Path) -> list[Path]:
    return [
        path
        for path in sorted(directory.glob(f"*{_ENTRY}"))
        if KEY.fullmatch(path.name[: -len(_ENTRY)])
    ]


def _lock_files(directory: Path) -> list[Path]:
    return [
        path
        for path in sorted(directory.iterdir())
        if path.suffix in _LOCKS and KEY.fullmatch(path.stem)
    ]


def _remove_unheld_lock(path: Path) -> bool:
    """Remove the lock file `path` unless a process holds it (it is then still in use)."""
    if fcntl is None:
        return _remove_stale_lock(path)
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigurationError(f"cannot open lock file {path}: {exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)


def _remove_stale_lock(path: Path) -> bool:
    try:
        if time.time() - path.stat().st_mtime <= FileCache.stale_lock_after:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True
