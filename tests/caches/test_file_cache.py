"""FileCache: permissions, atomic writes, distrust of hostile files, encryption, locks."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import signal
import stat
import threading
import time
from pathlib import Path

import pytest
import single_flight

import refreshsts.caches.file as file_module
from refreshsts import ConfigurationError
from refreshsts._internal.crypto import KEY_ENV, encode_entry, generate_key
from refreshsts.caches import CredentialCache
from refreshsts.caches.file import FileCache, default_directory

OTHER_UID = 54321


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def cache(directory: Path, monkeypatch: pytest.MonkeyPatch) -> FileCache:
    monkeypatch.delenv(KEY_ENV, raising=False)
    return FileCache(directory)


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="refreshsts")
    return caplog


def secrets_of(entry) -> list[str]:
    return [entry.access_key_id, entry.secret_access_key, entry.session_token]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")


def entry_path(cache: FileCache, key: str) -> Path:
    """Where `cache` keeps the entry of `key` (named by an HMAC of it when encrypted)."""
    return cache.directory / f"{cache._stored(key)}.json"


# -- the protocol ------------------------------------------------------------------------


def test_implements_the_protocol(cache: FileCache) -> None:
    assert isinstance(cache, CredentialCache)


def test_roundtrip_shared_by_instances(cache: FileCache, directory: Path, credentials, key):
    entry = credentials()
    assert cache.get(key) is None
    cache.set(key, entry)
    assert cache.get(key) == entry
    assert FileCache(directory).get(key) == entry
    cache.delete(key)
    assert cache.get(key) is None
    cache.delete(key)


def test_expired_entries_are_misses(cache: FileCache, credentials, key: str) -> None:
    cache.set(key, credentials(seconds=-1))
    assert cache.get(key) is None


def test_one_file_per_key_named_by_the_key_alone(cache: FileCache, directory: Path, credentials):
    entries = {f"{n:x}" * 64: credentials() for n in range(3)}
    for key, entry in entries.items():
        cache.set(key, entry)
    with cache.lock(next(iter(entries)), timeout=1):
        names = sorted(path.name for path in directory.iterdir())
    assert [name for name in names if name.endswith(".json")] == sorted(
        f"{key}.json" for key in entries
    )
    for entry in entries.values():
        for secret in [*secrets_of(entry), entry.arn]:
            assert all(secret not in name for name in names)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCDEF0123456789", "", "a" * 8, "g" * 64])
def test_keys_must_be_hex_digests(cache: FileCache, directory: Path, credentials, bad: str):
    with pytest.raises(ValueError, match="hex digests"):
        cache.get(bad)
    with pytest.raises(ValueError, match="hex digests"):
        cache.set(bad, credentials())
    with pytest.raises(ValueError, match="hex digests"):
        cache.delete(bad)
    with pytest.raises(ValueError, match="hex digests"), cache.lock(bad, timeout=0):
        pass
    assert list(directory.iterdir()) == []


# -- where and with which permissions ------------------------------------------------------


def test_directory_0700_and_files_0600_whatever_the_umask(directory: Path, credentials, key):
    previous = os.umask(0)
    try:
        cache = FileCache(directory)
        cache.set(key, credentials())
        with cache.lock(key, timeout=1):
            pass
    finally:
        os.umask(previous)
    assert mode(directory) == 0o700
    assert {path.name: mode(path) for path in directory.iterdir()} == {
        f"{key}.json": 0o600,
        f"{key}.lock": 0o600,
    }


def test_default_directory_follows_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_directory() == tmp_path / "xdg" / "refreshsts"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    assert default_directory() == tmp_path / "home" / ".cache" / "refreshsts"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv(KEY_ENV, raising=False)
    cache = FileCache()
    assert cache.directory == tmp_path / "home" / ".cache" / "refreshsts"
    assert mode(cache.directory) == 0o700


@pytest.mark.parametrize("loose", [0o777, 0o770, 0o730, 0o1777, 0o1700], ids=oct)
def test_an_existing_directory_others_can_write_to_is_refused_and_left_alone(
    directory: Path, loose: int
) -> None:
    directory.mkdir()
    directory.chmod(loose)
    with pytest.raises(ConfigurationError, match=f"has mode {loose:04o}") as caught:
        FileCache(directory)
    assert repr(str(directory)) in str(caught.value)
    assert mode(directory) == loose
    assert list(directory.iterdir()) == []


def test_a_readable_directory_of_ours_is_used_as_it_is(directory: Path, credentials, key, warnings):
    directory.mkdir()
    directory.chmod(0o755)
    cache = FileCache(directory)
    cache.set(key, credentials())
    assert mode(directory) == 0o755
    assert "leaves it as it is" in warnings.text
    assert mode(entry_path(cache, key)) == 0o600


def test_a_private_directory_of_ours_is_used_silently(directory: Path, warnings) -> None:
    directory.mkdir()
    directory.chmod(0o700)
    FileCache(directory)
    assert mode(directory) == 0o700
    assert warnings.records == []


def test_a_directory_of_another_user_is_refused(directory: Path) -> None:
    needs_root()
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, -1)
    with pytest.raises(ConfigurationError, match=f"belongs to uid {OTHER_UID}"):
        FileCache(directory)


@pytest.mark.parametrize("target_mode", [0o755, 0o700], ids=oct)
def test_a_symlink_in_place_of_the_directory_is_refused_and_its_target_left_alone(
    tmp_path: Path, target_mode: int
) -> None:
    target = tmp_path / "somebody-elses-choice"
    target.mkdir()
    target.chmod(target_mode)
    link = tmp_path / "cache"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="symbolic link") as caught:
        FileCache(link)
    assert repr(str(link)) in str(caught.value)
    assert mode(target) == target_mode
    assert list(target.iterdir()) == []


def test_a_file_in_place_of_the_directory_is_refused(directory: Path) -> None:
    directory.write_text("")
    with pytest.raises(ConfigurationError, match="FileCache"):
        FileCache(directory)


def test_a_removed_directory_is_made_again_on_set(cache: FileCache, directory: Path, credentials):
    directory.rmdir()
    entry = credentials()
    cache.set("ab" * 32, entry)
    assert cache.get("ab" * 32) == entry
    assert mode(directory) == 0o700
    directory.joinpath(f"{'ab' * 32}.json").unlink()
    directory.rmdir()
    with cache.lock("ab" * 32, timeout=0) as held:
        assert held


# -- atomic writes -------------------------------------------------------------------------


def test_write_is_fsynced_before_it_replaces(cache: FileCache, credentials, key, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: os.PathLike[str]) -> None:
        assert Path(src).parent == cache.directory
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    cache.set(key, credentials())
    assert calls == ["fsync", "replace"]


def test_a_failed_write_keeps_the_old_entry_and_leaves_no_temp_file(
    cache: FileCache, directory: Path, credentials, key, monkeypatch
) -> None:
    old = credentials()
    cache.set(key, old)

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        cache.set(key, credentials())
    monkeypatch.undo()
    assert cache.get(key) == old
    assert [path.name for path in directory.iterdir()] == [f"{key}.json"]


def test_readers_never_see_a_partial_entry(cache: FileCache, credentials, key, warnings):
    cache.set(key, credentials())
    stop = time.monotonic() + 0.3
    misses: list[int] = []

    def read() -> None:
        while time.monotonic() < stop:
            if cache.get(key) is None:
                misses.append(1)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    while time.monotonic() < stop:
        cache.set(key, credentials())
    for reader in readers:
        reader.join()
    assert misses == []
    assert warnings.records == []


# -- files that are not trusted -------------------------------------------------------------

SENTINEL = "SENTINEL-CONTENTS-THAT-MUST-NOT-BE-LOGGED"


def corrupt_forms(entry_bytes: bytes) -> list[bytes]:
    return [
        b"",
        entry_bytes[: len(entry_bytes) // 2],
        f'{{"version": 1, "secret_access_key": "{SENTINEL}"}}'.encode(),
        f"{SENTINEL} not json".encode(),
        b"\x00" * 100,
        b"[]",
    ]


def test_corrupt_or_truncated_files_are_misses_logged_without_contents_and_replaced(
    cache: FileCache, credentials, key, warnings
) -> None:
    path = cache.directory / f"{key}.json"
    cache.set(key, credentials())
    for garbage in corrupt_forms(path.read_bytes()):
        warnings.clear()
        path.write_bytes(garbage)
        assert cache.get(key) is None
        assert "corrupt or truncated" in warnings.text
        assert SENTINEL not in warnings.text
        fresh = credentials()
        cache.set(key, fresh)
        assert cache.get(key) == fresh


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o620, 0o602], ids=oct)
def test_files_others_can_reach_are_refused_and_replaced(
    cache: FileCache, credentials, key, warnings, loose: int
) -> None:
    path = cache.directory / f"{key}.json"
    planted = credentials()
    cache.set(key, planted)
    path.chmod(loose)
    assert cache.get(key) is None
    assert f"mode {loose:04o}" in warnings.text
    for secret in secrets_of(planted):
        assert secret not in warnings.text
    fresh = credentials()
    cache.set(key, fresh)
    assert mode(path) == 0o600
    assert cache.get(key) == fresh


def test_files_of_another_owner_are_refused_and_replaced(
    cache: FileCache, credentials, key, warnings
):
    needs_root()
    path = cache.directory / f"{key}.json"
    planted = credentials()
    cache.set(key, planted)
    os.chown(path, OTHER_UID, -1)
    assert cache.get(key) is None
    assert f"owned by uid {OTHER_UID}" in warnings.text
    for secret in secrets_of(planted):
        assert secret not in warnings.text
    fresh = credentials()
    cache.set(key, fresh)
    assert path.stat().st_uid == os.geteuid()
    assert cache.get(key) == fresh


def test_symlinks_and_directories_are_not_followed(
    cache: FileCache, tmp_path: Path, credentials, warnings
) -> None:
    elsewhere = FileCache(tmp_path / "elsewhere")
    linked, dir_key = "cd" * 32, "ef" * 32
    elsewhere.set(linked, credentials())
    (cache.directory / f"{linked}.json").symlink_to(elsewhere.directory / f"{linked}.json")
    (cache.directory / f"{dir_key}.json").mkdir()
    assert cache.get(linked) is None
    assert cache.get(dir_key) is None
    assert "cannot be opened" in warnings.text
    assert "not a regular file" in warnings.text


def finishes(function, seconds: float = 5.0):
    """(True, result) when `function()` returns within `seconds`, else (False, None)."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(function()), daemon=True)
    worker.start()
    worker.join(seconds)
    return (not worker.is_alive(), result[0] if result else None)


def release_fifo(path: Path) -> None:
    """Give a FIFO a writer, so a reader blocked in open() (on the old code) gets free."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_planted_as_an_entry_or_marker_is_a_miss_not_a_hang(
    directory: Path, credentials, key, secret_key, warnings
) -> None:
    cache = FileCache(directory, key=secret_key)
    entry, marker = entry_path(cache, key), directory / "key-fingerprint"
    os.mkfifo(entry, 0o600)
    os.mkfifo(marker, 0o600)
    try:
        assert finishes(lambda: cache.get(key)) == (True, None)
        assert finishes(lambda: list(cache.entries())) == (True, [])
    finally:
        release_fifo(entry)
        release_fifo(marker)
    assert "not a regular file" in warnings.text
    fresh = credentials()
    cache.set(key, fresh)
    assert cache.get(key) == fresh


# -- tidying ---------------------------------------------------------------------------------


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_stale_temp_files_of_ours_are_swept_on_open(directory: Path, key: str) -> None:
    FileCache(directory)
    stale = directory / f".{key}.json.x1y2z3.tmp"
    fresh = directory / f".{key}.json.a1b2c3.tmp"
    stale_marker = directory / ".key-fingerprint.q9w8e7.tmp"
    for path in (stale, fresh, stale_marker):
        path.write_text('{"SecretAccessKey": "left by a crash"}')
    age(stale, 120)
    age(stale_marker, 3600)
    FileCache(directory)
    assert sorted(path.name for path in directory.iterdir()) == [fresh.name]


def test_temp_files_of_another_user_are_left_alone(directory: Path, key: str) -> None:
    needs_root()
    FileCache(directory)
    theirs = directory / f".{key}.json.x1y2z3.tmp"
    theirs.write_text("")
    os.chown(theirs, OTHER_UID, -1)
    age(theirs, 120)
    FileCache(directory)
    assert theirs.exists()


def test_expired_entries_and_their_idle_locks_are_pruned_on_write(
    directory: Path, credentials, monkeypatch
) -> None:
    monkeypatch.setattr(file_module, "_EXPIRED_GRACE", 0.0)
    planter, other = FileCache(directory), FileCache(directory, key=generate_key())
    planter._tidied_at = other._tidied_at = time.monotonic()  # they plant, never prune
    live, dead, busy, foreign_old, foreign_new = (f"{n:02x}" * 32 for n in range(1, 6))
    planter.set(dead, credentials(seconds=-60))
    with planter.lock(dead, timeout=0):
        pass
    with planter.lock(busy, timeout=0):
        pass
    other.set(foreign_old, credentials())
    other.set(foreign_new, credentials())
    age(entry_path(other, foreign_old), file_module._LONGEST_LIFETIME + 60)
    (directory / "notes.txt").write_text("not ours to judge")
    time.sleep(0.05)  # lock files a little older than "now"
    cache = FileCache(directory)
    with cache.lock(busy, timeout=0) as held:
        assert held
        cache.set(live, credentials())
    left = {path.name for path in directory.iterdir()}
    assert f"{dead}.json" not in left
    assert f"{dead}.lock" not in left
    assert f"{busy}.lock" in left, "a held lock is never removed"
    assert entry_path(other, foreign_old).name not in left
    assert entry_path(other, foreign_new).name in left
    assert {f"{live}.json", "notes.txt", "key-fingerprint"} <= left


def test_pruning_is_bounded_and_comes_now_and_then(
    directory: Path, credentials, monkeypatch
) -> None:
    monkeypatch.setattr(file_module, "_EXPIRED_GRACE", 0.0)
    monkeypatch.setattr(file_module, "_TIDY_LIMIT", 5)
    cache = FileCache(directory)
    for n in range(20):
        cache._tidied_at = time.monotonic()  # no pass while planting
        cache.set(f"{n:02x}" * 32, credentials(seconds=-60))
    assert len(list(directory.glob("*.json"))) == 20
    cache._tidied_at = None
    cache.set("ff" * 32, credentials())
    assert len(list(directory.glob("*.json"))) >= 16, "no more than 5 names looked at"
    remaining = len(list(directory.glob("*.json")))
    cache.set("fe" * 32, credentials())
    assert len(list(directory.glob("*.json"))) == remaining + 1, "once per tidy_every"


def plant(path: Path, data: bytes) -> None:
    """Write a private file directly: thousands of them, without a fsync each."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def test_stale_temp_files_beyond_the_first_thousand_names_are_swept(directory: Path) -> None:
    """Written first, the temps come last in a listing in creation order (tmpfs lists the
    newest first; ext4 by hash, where some fall beyond the first 1,000 names all the same)."""
    FileCache(directory)
    temps = [directory / f".{n:064x}.json.x1y2z3.tmp" for n in range(300)]
    for path in temps:
        plant(path, b'{"SecretAccessKey": "left by a crash"}')
        age(path, 120)
    for n in range(1200):
        plant(directory / f"{n:064x}.json", b"{}")
    FileCache(directory)
    assert [path for path in temps if path.exists()] == []


def test_expired_entries_beyond_the_first_thousand_names_are_pruned_in_turn(
    directory: Path, credentials, monkeypatch
) -> None:
    monkeypatch.setattr(file_module, "_EXPIRED_GRACE", 0.0)
    cache = FileCache(directory)
    dead = credentials(seconds=-60)
    expired = [f"{n:064x}" for n in range(1200, 1500)]
    for name in expired:
        plant(directory / f"{name}.json", encode_entry(dead, name, None))
    for n in range(1200):
        plant(directory / f"{n:064x}.json", encode_entry(credentials(), f"{n:064x}", None))
    for _ in range(2):
        cache._tidied_at = None
        cache.set("ff" * 32, credentials())
    assert [name for name in expired if (directory / f"{name}.json").exists()] == []
    assert len(list(directory.glob("*.json"))) == 1201, "live entries stay"


# -- encryption ------------------------------------------------------------------------------


def test_encrypted_entries_roundtrip_and_hold_no_plaintext(directory: Path, credentials, key):
    secret_key = generate_key()
    cache = FileCache(directory, key=secret_key)
    entry = credentials()
    cache.set(key, entry)
    stored = entry_path(cache, key).read_bytes()
    for secret in [*secrets_of(entry), entry.arn]:
        assert secret.encode() not in stored
    assert cache.get(key) == entry
    assert FileCache(directory, key=secret_key).get(key) == entry
    assert cache.encrypted


def test_the_key_can_come_from_the_environment(directory, credentials, key, monkeypatch):
    secret_key = generate_key()
    monkeypatch.setenv(KEY_ENV, secret_key)
    entry = credentials()
    FileCache(directory).set(key, entry)
    assert FileCache(directory, key=secret_key).get(key) == entry
    assert FileCache(directory).encrypted


def test_a_bad_key_in_the_environment_is_a_configuration_error(directory, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "hunter2")
    with pytest.raises(ConfigurationError, match=KEY_ENV) as caught:
        FileCache(directory)
    assert "hunter2" not in str(caught.value)


def test_encrypted_entries_and_locks_are_named_by_a_keyed_digest_of_the_cache_key(
    directory: Path, credentials, key: str
) -> None:
    secret_key = generate_key()
    cache = FileCache(directory, key=secret_key)
    entry = credentials()
    cache.set(key, entry)
    with cache.lock(key, timeout=1) as held:
        assert held
        names = sorted(path.name for path in directory.iterdir())
    stored = cache._stored(key)
    assert names == [f"{stored}.json", f"{stored}.lock", "key-fingerprint"]
    assert directory.joinpath("key-fingerprint").read_text() == cache._sealer.fingerprint
    assert secret_key not in cache._sealer.fingerprint
    assert len(stored) == 64
    assert key not in stored
    assert all(key not in name for name in names)
    assert [listed.key for listed in cache.entries()] == [stored]
    assert FileCache(directory, key=secret_key).get(key) == entry
    assert FileCache(directory, key=generate_key())._stored(key) != stored


def test_a_cache_with_another_key_misses_and_leaves_the_entry_alone(
    directory, credentials, key, warnings
) -> None:
    first, second = (
        FileCache(directory, key=generate_key()),
        FileCache(directory, key=generate_key()),
    )
    entry, other = credentials(), credentials()
    first.set(key, entry)
    assert second.get(key) is None
    assert "written with another encryption key; they are misses" in warnings.text
    warnings.clear()
    assert second.get(key) is None
    assert warnings.text == "", "the mismatch is told once per cache"
    second.set(key, other)
    assert (first.get(key), second.get(key)) == (entry, other)


def test_an_entry_moved_to_another_key_does_not_open(directory, credentials, key, warnings):
    cache = FileCache(directory, key=generate_key())
    cache.set(key, credentials())
    moved = "ab" * 32
    os.replace(entry_path(cache, key), entry_path(cache, moved))
    assert cache.get(moved) is None
    assert "authentication failed" in warnings.text


def test_plaintext_and_sealed_entries_do_not_mix(
    directory: Path, credentials, key, warnings, monkeypatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    plain, sealed = FileCache(directory), FileCache(directory, key=generate_key())
    plain.set(key, credentials())
    os.replace(entry_path(plain, key), entry_path(sealed, key))  # planted under its name
    assert sealed.get(key) is None
    assert "not encrypted" in warnings.text
    sealed.set(key, credentials())
    os.replace(entry_path(sealed, key), entry_path(plain, key))
    assert plain.get(key) is None
    assert "has no key" in warnings.text


# -- hygiene -----------------------------------------------------------------------------------


def test_repr_names_the_directory_not_the_key(directory: Path) -> None:
    secret_key = generate_key()
    cache = FileCache(directory, key=secret_key)
    assert repr(cache) == f"FileCache({str(directory)!r}, encrypted=True)"
    assert secret_key not in repr(cache)


def test_a_pickle_carries_the_directory_and_no_key(directory, credentials, key, monkeypatch):
    secret_key = generate_key()
    cache = FileCache(directory, key=secret_key)
    entry = credentials()
    cache.set(key, entry)
    data = pickle.dumps(cache)
    assert secret_key.encode() not in data
    assert cache._sealer is not None

    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigurationError, match=f"set {KEY_ENV}"):
        pickle.loads(data)
    monkeypatch.setenv(KEY_ENV, secret_key)
    restored = pickle.loads(data)
    assert restored.directory == directory
    assert restored.get(key) == entry


def test_an_unencrypted_cache_pickles_without_needing_a_key(cache: FileCache, credentials, key):
    entry = credentials()
    cache.set(key, entry)
    restored = pickle.loads(pickle.dumps(cache))
    assert not restored.encrypted
    assert restored.get(key) == entry


def test_entries_list_keys_expiry_and_principal_only(cache: FileCache, credentials, warnings):
    live, expired, hostile = "aa" * 32, "bb" * 32, "cc" * 32
    entry = credentials(arn="arn:aws:sts::123456789012:assumed-role/reader/app")
    cache.set(live, entry)
    cache.set(expired, credentials(seconds=-10))
    cache.set(hostile, credentials())
    (cache.directory / f"{hostile}.json").chmod(0o644)
    (cache.directory / "notes.json").write_text("{}")
    listed = list(cache.entries())
    assert [item.key for item in listed] == [live, expired]
    assert listed[0].arn == entry.arn
    assert listed[0].expiration.timestamp() == entry.expiration
    assert listed[0].issued.timestamp() == entry.issued
    assert not listed[0].expired
    assert listed[1].expired
    for secret in secrets_of(entry):
        assert secret not in repr(listed)


# -- locks -------------------------------------------------------------------------------------


def test_the_lock_excludes_others_until_released(directory: Path, key: str) -> None:
    first, second = FileCache(directory), FileCache(directory)
    with first.lock(key, timeout=1) as held:
        assert held
        started = time.monotonic()
        with second.lock(key, timeout=0.2) as other:
            assert not other
        assert 0.2 <= time.monotonic() - started < 1.0
        with second.lock("ab" * 32, timeout=0) as unrelated:
            assert unrelated
    with second.lock(key, timeout=0) as after:
        assert after


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(directory: Path, key: str) -> None:
    cache = FileCache(directory)
    released = threading.Event()

    def hold() -> None:
        with cache.lock(key, timeout=1):
            time.sleep(0.15)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.05)
    with cache.lock(key, timeout=5) as got:
        assert got
        assert released.is_set()
    holder.join()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_keep_its_parents_lock(directory: Path, key: str) -> None:
    cache = FileCache(directory)
    report, reported = os.pipe()
    with cache.lock(key, timeout=1) as held:
        assert held
        pid = os.fork()
        if pid == 0:  # the child, a worker that lives on without touching the cache
            try:
                os.write(reported, b"holds" if file_module._held else b"clear")
                time.sleep(30)
            finally:
                os._exit(0)
    os.close(reported)
    got: list[bool] = []
    try:
        assert os.read(report, 5) == b"clear"
        other = threading.Thread(target=lambda: got.append(take(FileCache(directory), key)))
        other.start()
        other.join(timeout=5)
    finally:
        os.close(report)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert got == [True]


def take(cache: FileCache, key: str) -> bool:
    """Whether the lock of `key` can be had at once."""
    with cache.lock(key, timeout=0) as held:
        return held


def test_without_fcntl_an_exclusive_lock_file_is_used(
    directory: Path, key: str, monkeypatch: pytest.MonkeyPatch, warnings
) -> None:
    monkeypatch.setattr(file_module, "fcntl", None)
    cache = FileCache(directory)
    lock_file = directory / f"{key}.xlock"
    with cache.lock(key, timeout=1) as held:
        assert held
        assert mode(lock_file) == 0o600
        with cache.lock(key, timeout=0.1) as other:
            assert not other
    assert not lock_file.exists()

    lock_file.write_text("12345\n")
    stale = time.time() - cache.stale_lock_after - 5
    os.utime(lock_file, (stale, stale))
    with cache.lock(key, timeout=1) as taken_over:
        assert taken_over
    assert "dead holder" in warnings.text


@pytest.mark.slow
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_eight_cold_processes_fetch_once(directory: Path, tmp_path: Path, key: str, encrypted):
    build = functools.partial(FileCache, key=generate_key()) if encrypted else FileCache
    FileCache(directory)
    counter = tmp_path / "fetches"
    seen = single_flight.run_cold_start(build, (str(directory),), key, counter, n=8)
    assert single_flight.fetches(counter) == 1
    assert sorted(kind for kind, _ in seen).count("fetched") == 1
    assert len({access_key for _, access_key in seen}) == 1


def test_an_unencrypted_cache_is_told_entries_were_written_with_a_key(
    directory, credentials, key, warnings
) -> None:
    FileCache(directory, key=generate_key()).set(key, credentials())
    plain = FileCache(directory)
    assert plain.get(key) is None
    assert "written with an encryption key" in warnings.text
