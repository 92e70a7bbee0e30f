"""FileCache: credentials shared by every process of one user on one host.

One JSON file per cache key in a 0700 directory, each written atomically with mode 0600, and
a lock file per key so N processes starting cold make one STS call. The lock is `fcntl.flock`
(released by the kernel when its holder dies). A forked child closes the lock descriptors
it inherits, which would otherwise keep its parent's locks held for as long as the child
lives. Where `fcntl` is missing (Windows), the lock is a file created with O_EXCL; one older
than `stale_lock_after` seconds is taken to be left by a dead holder and removed, so at
worst two processes refresh at once. With a key, files are named by an HMAC of the cache
key rather than by the key itself.
"""

from __future__ import annotations

import datetime as _dt
import errno
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
            `~/.cache/refreshsts`. Created 0700; a symlink or another user's directory is
            refused.
        key: A 32-byte key, raw or as base64 text (see `generate_key`), to seal entries
            with; by default `REFRESHSTS_CACHE_KEY`, else entries are stored unsealed.

    Raises:
        ConfigurationError: The key is malformed, or the directory is unsafe or unusable.
    """

    stale_lock_after = 120.0
    """Seconds after which a lock file is taken to be left by a dead holder and removed."""

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
            fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            _distrust(path, f"cannot be opened ({errno.errorcode.get(exc.errno or 0, 'error')})")
            return None
        problem = _untrusted(os.fstat(fd))
        if problem:
            os.close(fd)
            _distrust(path, problem)
            return None
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(MAX_ENTRY_BYTES + 1)
        try:
            return decode_entry(raw, name, self._sealer)
        except DecryptionError as exc:
            _distrust(path, str(exc))
        except ValueError as exc:
            _distrust(path, f"corrupt or truncated ({type(exc).__name__})")
        return None

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
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        return os.read(fd, 64).strip()
    finally:
        os.close(fd)


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
    """Create the directory 0700, or tighten one of ours; refuse a symlink or another user's.

    A symlink is refused rather than followed: whoever planted it chose where credentials
    go, and tightening "our" directory would chmod its target.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError as exc:
        raise ConfigurationError(f"FileCache cannot use {str(directory)!r}: {exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        _refuse_symlink(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"FileCache directory {str(directory)!r} is not a directory")
    if os.name != "posix":
        _check_directory(directory, info, None)
        return
    try:  # check and tighten what was opened, so a swap after lstat changes nothing
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse_symlink(directory)
        raise ConfigurationError(f"FileCache cannot use {str(directory)!r}: {exc}") from exc
    try:
        _check_directory(directory, os.fstat(fd), fd)
    finally:
        os.close(fd)


def _refuse_symlink(directory: Path) -> None:
    raise ConfigurationError(
        f"FileCache directory {str(directory)!r} is a symbolic link: refusing to follow it, "
        "since whoever created it chooses where credentials are written; pass a real "
        "directory (the link's target, if it is yours)"
    )


def _check_directory(directory: Path, info: os.stat_result, fd: int | None) -> None:
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"FileCache directory {str(directory)!r} belongs to uid {info.st_uid}, not to this "
            "user: another user could read or plant credentials there; choose another directory"
        )
    if fd is not None and info.st_mode & 0o077:
        logger.warning(
            "FileCache directory %s had mode %04o; tightening it to 0700",
            directory,
            stat.S_IMODE(info.st_mode),
        )
        os.fchmod(fd, 0o700)


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
