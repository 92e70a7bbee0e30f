"""FileCache: credentials shared by every process of one user on one host.

One JSON file per cache key in a private directory, each written atomically with mode 0600,
and a lock file per key so N processes starting cold make one STS call. A directory that
exists already is never changed: one others can write to is refused. Expired entries,
their lock files and temp files left by crashed writes are removed now and then, a bounded
amount of work at a time. The lock is `fcntl.flock`
(released by the kernel when its holder dies). A forked child closes the lock descriptors
it inherits, which would otherwise keep its parent's locks held for as long as the child
lives. Where `fcntl` is missing (Windows), the lock is a file created with O_EXCL; one older
than `stale_lock_after` seconds is taken to be left by a dead holder and removed, so at
worst two processes refresh at once. With a key, files are named by an HMAC of the cache
key rather than by the key itself.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import errno
import itertools
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._internal.crypto import (
    MAX_ENTRY_BYTES,
    DecryptionError,
    Sealer,
    decode_entry,
    encode_entry,
    fingerprint,
    key_mismatch_warning,
    resolve_key,
)
from .._temporary import TemporaryCredentials
from ..errors import ConfigurationError
from ._keys import KEY, checked, key_in_environment, polls, stored_name

try:
    import fcntl
except ImportError:  # Windows: see the module docstring for the fallback lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["CachedEntry", "FileCache", "default_directory"]

logger = logging.getLogger("refreshsts")

_SUFFIX = ".json"
_POLL_FIRST = 0.002
_POLL_MAX = 0.05
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted under an entry's name never blocks
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_AFTER = 60.0
_EXPIRED_GRACE = 600.0
_LONGEST_LIFETIME = 129_600.0  # 36 h, GetSessionToken's longest: past it, any entry is dead
_TIDY_LIMIT = 1000


def default_directory() -> Path:
    """`$XDG_CACHE_HOME/refreshsts`, else `~/.cache/refreshsts` (a relative XDG path is ignored)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "refreshsts"


@dataclass(frozen=True)
class CachedEntry:
    """What `FileCache.entries()` tells about one entry: no key material, no secret.

    `key` is the name the entry is stored under: its cache key, or in an encrypted cache an
    HMAC of the cache key.
    """

    key: str
    expiration: _dt.datetime
    issued: _dt.datetime
    arn: str | None

    @property
    def expired(self) -> bool:
        return self.expiration <= _dt.datetime.now(_dt.timezone.utc)

    @classmethod
    def of(cls, name: str, credentials: TemporaryCredentials) -> CachedEntry:
        """What may be shown of `credentials`, stored under `name`."""
        return cls(
            key=name,
            expiration=_utc(credentials.expiration),
            issued=_utc(credentials.issued),
            arn=credentials.arn,
        )


class FileCache:
    """A directory of credential files shared by the processes of one user on one host.

    Files that are corrupt, truncated, foreign-owned or readable by others are not trusted:
    they are logged (never their contents), read as a miss and replaced by the next `set`.
    With `key=` or `REFRESHSTS_CACHE_KEY`, entries are sealed with AES-GCM; an entry that
    does not open with that key is a miss and a warning. Implements CredentialCache.

    Args:
        directory: Where the files go; by default `$XDG_CACHE_HOME/refreshsts`, else
            `~/.cache/refreshsts`. Created 0700; a symlink, another user's directory, or
            an existing directory others may write to (or sticky, like /tmp) is refused
            and never chmodded.
        key: A 32-byte key, raw or as base64 text (see `generate_key`), to seal entries
            with; by default `REFRESHSTS_CACHE_KEY`, else entries are stored unsealed.

    Raises:
        ConfigurationError: The key is malformed, or the directory is unsafe or unusable.
    """

    stale_lock_after = 120.0
    """Seconds after which a lock file is taken to be left by a dead holder and removed."""
    tidy_every = 600.0
    """Seconds between two passes removing expired entries (the first comes with the first set)."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, key: str | bytes | None = None
    ) -> None:
        raw_key = resolve_key(key)
        self._sealer = Sealer(raw_key) if raw_key is not None else None
        chosen = Path(directory).expanduser() if directory is not None else default_directory()
        self.directory = chosen.absolute()
        _prepare_directory(self.directory)
        self._key_checked = False
        self._fingerprint_written = False
        self._tidied_at: float | None = None
        self._tidy_after = os.urandom(32).hex()
        self._sweep_temp_files()

    @property
    def encrypted(self) -> bool:
        """True when entries are sealed with a key."""
        return self._sealer is not None

    # -- the protocol --------------------------------------------------------------------

    def get(self, key: str) -> TemporaryCredentials | None:
        entry = self._read(self._stored(key))
        if entry is None:
            self._check_key()
            return None
        if entry.seconds_left() <= 0:
            return None
        return entry

    def set(self, key: str, credentials: TemporaryCredentials) -> None:
        name = self._stored(key)
        data = encode_entry(credentials, name, self._sealer)
        try:
            _write_atomically(self._path(name), data)
        except FileNotFoundError:
            _prepare_directory(self.directory)
            _write_atomically(self._path(name), data)
        if self._sealer is not None and not self._fingerprint_written:
            self._fingerprint_written = True
            ours = self._sealer.fingerprint.encode()
            marker = self.directory / _FINGERPRINT
            with suppress(OSError):
                if _read_small(marker) != ours:
                    _write_atomically(marker, ours)
        self._tidy_now_and_then()

    def _check_key(self) -> None:
        """On the first miss, warn when the directory's entries were written under another key."""
        if self._key_checked:
            return
        self._key_checked = True
        try:
            found = _read_small(self.directory / _FINGERPRINT)
        except OSError:
            return
        warning = key_mismatch_warning(
            f"cache directory {self.directory}",
            fingerprint(self._sealer),
            None if found is None else found.decode("ascii", "replace"),
        )
        if warning:
            logger.warning(warning)

    def delete(self, key: str) -> None:
        with suppress(FileNotFoundError):
            self._path(self._stored(key)).unlink()

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        path = self.directory / f"{self._stored(key)}.lock"
        if not self.directory.is_dir():
            _prepare_directory(self.directory)
        if fcntl is None:
            with _exclusive_file_lock(path, timeout, self.stale_lock_after) as acquired:
                yield acquired
        else:
            with _flock(path, timeout) as acquired:
                yield acquired

    # -- for a status command ------------------------------------------------------------

    def entries(self) -> Iterator[CachedEntry]:
        """Every trusted, readable entry (expired ones too), by name; secrets stay behind.

        Returns:
            An iterator of CachedEntry, sorted by stored name.
        """
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            name = path.name[: -len(_SUFFIX)]
            if not KEY.fullmatch(name):
                continue
            entry = self._read(name)
            if entry is not None:
                yield CachedEntry.of(name, entry)

    # -- files -----------------------------------------------------------------------------

    def _stored(self, key: str) -> str:
        return stored_name(key, self._sealer)

    def _path(self, name: str) -> Path:
        return self.directory / f"{checked(name)}{_SUFFIX}"

    def _read(self, name: str) -> TemporaryCredentials | None:
        path = self._path(name)
        try:
            raw = _read_private(path, MAX_ENTRY_BYTES + 1)
        except _Untrusted as exc:
            _distrust(path, str(exc))
            return None
        if raw is None:
            return None
        try:
            return decode_entry(raw, name, self._sealer)
        except DecryptionError as exc:
            _distrust(path, str(exc))
        except ValueError as exc:
            _distrust(path, f"corrupt or truncated ({type(exc).__name__})")
        return None

    # -- tidying -----------------------------------------------------------------------------

    def _tidy_now_and_then(self) -> None:
        now = time.monotonic()
        if self._tidied_at is not None and now - self._tidied_at < self.tidy_every:
            return
        self._tidied_at = now
        try:
            self._prune()
        except OSError as exc:
            logger.debug("FileCache %s: pruning stopped early: %s", self.directory, exc)

    def _prune(self) -> None:
        """Remove expired entries, their idle lock files and stale temp files.

        Every name is listed, which is cheap; at most `_TIDY_LIMIT` are looked at per pass,
        from where the last pass stopped (a new cache starts at a random name, so short-lived
        processes share the work too): in time every name is visited, however many there
        are. An entry this cache cannot open (another key's) goes once it is older than any
        STS credentials live.
        """
        now = time.time()
        everything = sorted(_names(self.directory))
        start = bisect.bisect_right(everything, self._tidy_after)
        names = (everything[start:] + everything[:start])[:_TIDY_LIMIT]
        if names:
            self._tidy_after = names[-1]
        left = set(everything)
        for name in names:
            path = self.directory / name
            if name.endswith(_SUFFIX) and KEY.fullmatch(name[: -len(_SUFFIX)]):
                if self._expired(path, name[: -len(_SUFFIX)], now):
                    _remove_if_ours(path)
                    left.discard(name)
            elif _is_temp(name):
                _remove_if_ours(path, older_than=now - _STALE_TEMP_AFTER)
        for name in names:
            stem = name[: -len(".lock")]
            if name.endswith(".lock") and KEY.fullmatch(stem) and stem + _SUFFIX not in left:
                _remove_idle_lock(self.directory / name, older_than=now - _EXPIRED_GRACE)

    def _expired(self, path: Path, name: str, now: float) -> bool:
        """Whether the entry expired a while ago (judged by its age when it does not open)."""
        try:
            info = path.lstat()
            raw = _read_private(path, MAX_ENTRY_BYTES + 1)
        except OSError:
            return False
        if raw is None:
            return False
        try:
            expiration = decode_entry(raw, name, self._sealer).expiration
        except (DecryptionError, ValueError):  # another key's entry, or a corrupt one
            expiration = info.st_mtime + _LONGEST_LIFETIME
        return expiration + _EXPIRED_GRACE < now

    def _sweep_temp_files(self) -> None:
        """Remove what crashed writes left: temp files of ours older than a minute.

        Every name is listed (temp files, which may hold plaintext secrets, are told by
        name); at most `_TIDY_LIMIT` of them are looked at.
        """
        limit = time.time() - _STALE_TEMP_AFTER
        with suppress(OSError):
            temps = (name for name in _names(self.directory) if _is_temp(name))
            for name in itertools.islice(temps, _TIDY_LIMIT):
                _remove_if_ours(self.directory / name, older_than=limit)

    def __repr__(self) -> str:
        return f"FileCache({str(self.directory)!r}, encrypted={self.encrypted})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (str(self.directory), self.encrypted))


def _restore(directory: str, encrypted: bool) -> FileCache:
    if encrypted:
        key_in_environment(f"FileCache({directory!r})")
    return FileCache(directory)


_FINGERPRINT = "key-fingerprint"


def _read_small(path: Path) -> bytes | None:
    raw = _read_private(path, 64)
    return None if raw is None else raw.strip()


class _Untrusted(OSError):
    """A file this user must not trust: not a regular file, not ours, or open to others."""


def _read_private(path: Path, limit: int) -> bytes | None:
    """Up to `limit` bytes of the private regular file `path`; None when there is none.

    Opened without following a link and without blocking, so a FIFO in its place is
    refused instead of hanging the caller.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Untrusted(
            f"cannot be opened ({errno.errorcode.get(exc.errno or 0, 'error')})"
        ) from None
    problem = _untrusted(os.fstat(fd))
    if problem:
        os.close(fd)
        raise _Untrusted(problem)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)


def _names(directory: Path) -> list[str]:
    """Every name in `directory`, without a stat of any."""
    with os.scandir(directory) as listing:
        return [entry.name for entry in listing]


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


def _remove_if_ours(path: Path, *, older_than: float | None = None) -> None:
    """Unlink `path` if it is a regular file of this user (changed before `older_than`)."""
    with suppress(OSError):
        info = path.lstat()
        if _owned_regular(info) and (older_than is None or info.st_mtime < older_than):
            path.unlink()


def _remove_idle_lock(path: Path, *, older_than: float) -> None:
    """Unlink a lock file nobody holds, holding it meanwhile so no one takes it midway."""
    if fcntl is None:
        return
    with suppress(OSError):
        info = path.lstat()
        if not _owned_regular(info) or info.st_ctime >= older_than:
            return
        fd = os.open(path, os.O_RDWR | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
        finally:
            os.close(fd)


def _owned_regular(info: os.stat_result) -> bool:
    return stat.S_ISREG(info.st_mode) and (
        not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    )


def _utc(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)


def _distrust(path: Path, problem: str) -> None:
    logger.warning("not trusting cache file %s: %s; treating it as a miss", path, problem)


def _untrusted(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"owned by uid {info.st_uid}, not by this user"
    if os.name == "posix" and info.st_mode & 0o077:
        return f"mode {stat.S_IMODE(info.st_mode):04o} lets other users in (0600 expected)"
    return None


def _prepare_directory(directory: Path) -> None:
    """Create the directory 0700, or check an existing one; never change one we did not make.

    A symlink is refused rather than followed: whoever planted it chose where credentials
    go. An existing directory others can write to (or a sticky one, such as /tmp) is
    refused: anyone could plant or swap entries there, and tightening it would take it away
    from everyone else who uses it.
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            directory.mkdir(mode=0o700)
            created = True
        except FileExistsError:
            created = False
        info = directory.lstat()
    except OSError as exc:
        raise ConfigurationError(f"FileCache cannot use {str(directory)!r}: {exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        _refuse_symlink(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"FileCache directory {str(directory)!r} is not a directory")
    if os.name != "posix":
        _check_directory(directory, info, None, created)
        return
    try:  # check what was opened, so a swap after lstat changes nothing
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse_symlink(directory)
        raise ConfigurationError(f"FileCache cannot use {str(directory)!r}: {exc}") from exc
    try:
        _check_directory(directory, os.fstat(fd), fd, created)
    finally:
        os.close(fd)


def _refuse_symlink(directory: Path) -> None:
    raise ConfigurationError(
        f"FileCache directory {str(directory)!r} is a symbolic link: refusing to follow it, "
        "since whoever created it chooses where credentials are written; pass a real "
        "directory (the link's target, if it is yours)"
    )


def _check_directory(directory: Path, info: os.stat_result, fd: int | None, created: bool) -> None:
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"FileCache directory {str(directory)!r} belongs to uid {info.st_uid}, not to this "
            "user: another user could read or plant credentials there; choose another directory"
        )
    if fd is None:
        return
    mode = stat.S_IMODE(info.st_mode)
    if created:
        if mode != 0o700:  # ours, just made: an odd umask may not leave it 0700
            os.fchmod(fd, 0o700)
        return
    if mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_ISVTX):
        raise ConfigurationError(
            f"FileCache directory {str(directory)!r} has mode {mode:04o}: other users can "
            "create or replace files in it, so it cannot hold credentials, and refreshsts "
            "never changes a directory it did not create; name a new directory (it is "
            "created 0700) or one of yours with mode 0700"
        )
    if mode & 0o077:
        logger.warning(
            "FileCache directory %s has mode %04o: other users can list its entries' names "
            "(never their contents); refreshsts leaves it as it is (chmod 700 it to stop that)",
            directory,
            mode,
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a part: temp file, fsync, replace."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class _Held:
    """A lock file descriptor of this process; `fd` is None once it is closed."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with suppress(OSError):
                os.close(fd)


# Open lock descriptors of this process. `_opening` keeps fork out of the moment between
# opening one and recording it here, so a child never inherits one it does not know of.
_held: set[_Held] = set()
_opening = threading.Lock()


def _before_fork() -> None:
    _opening.acquire()


def _after_fork_in_parent() -> None:
    _opening.release()


def _after_fork_in_child() -> None:
    """Close the lock descriptors inherited from the parent, and forget them.

    A flock belongs to the open file, which the child shares: without this, a lock the
    parent releases stays held until the child exits.
    """
    global _opening
    _opening = threading.Lock()
    for held in list(_held):
        held.close()
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


@contextmanager
def _flock(path: Path, timeout: float) -> Iterator[bool]:
    assert fcntl is not None
    with _opening:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
        held = _Held(fd)
        _held.add(held)
    try:
        acquired = False
        for _ in polls(timeout, _POLL_FIRST, _POLL_MAX):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            acquired = True
            break
        yield acquired
    finally:
        _held.discard(held)
        held.close()


@contextmanager
def _exclusive_file_lock(path: Path, timeout: float, stale_after: float) -> Iterator[bool]:
    path = path.with_suffix(".xlock")
    acquired = False
    for _ in polls(timeout, _POLL_FIRST, _POLL_MAX):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o600)
        except FileExistsError:
            _remove_if_stale(path, stale_after)
            continue
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        acquired = True
        break
    try:
        yield acquired
    finally:
        if acquired:
            with suppress(FileNotFoundError):
                path.unlink()


def _remove_if_stale(path: Path, stale_after: float) -> None:
    try:
        age = time.time() - path.stat().st_mtime
        if age > stale_after:
            logger.warning("removing lock file %s left %.0f s ago by a dead holder", path, age)
            path.unlink()
    except FileNotFoundError:
        pass
