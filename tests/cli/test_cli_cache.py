"""`refreshsts cache list|clear` and the cache part of `status`: never a secret, never a
directory created to look at it, one warning about a key that does not open the entries."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest
from cli_helpers import environ, role_args

import refreshsts
from refreshsts import FileCache
from refreshsts._temporary import TemporaryCredentials
from refreshsts.cli import main

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN"
ARN = "arn:aws:sts::123456789012:assumed-role/reader/alice"
FRESH = "a" * 64
STALE = "b" * 64


@pytest.fixture(autouse=True)
def _own_cache_home(cache_home):
    """`main()` runs in this process: keep its default FileCache out of the real home."""


def fill(directory: Path, *, key: bytes | None = None) -> FileCache:
    """A fresh entry and an expired one, plus a lock file for each."""
    cache = FileCache(directory, key=key)
    now = time.time()
    cache.set(FRESH, TemporaryCredentials("ASIAFRESH", SECRET, TOKEN, now + 3000, now, ARN))
    cache.set(STALE, TemporaryCredentials("ASIASTALE", SECRET, TOKEN, now - 60, now - 3660, ARN))
    for name in (FRESH, STALE):
        with cache.lock(name, 1):
            pass
    return cache


def test_list_shows_entries_without_secrets_and_json_too(tmp_path, capsys):
    fill(tmp_path / "c")
    assert main(["cache", "list", "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"cache     {tmp_path / 'c'} (2 entries, not encrypted)"
    assert lines[1].startswith(f"  {FRESH[:12]}  ") and lines[1].endswith(ARN)
    assert "expired" in lines[2]
    assert main(["cache", "list", "--cache-dir", str(tmp_path / "c"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["key"] for entry in report["entries"]] == [FRESH[:12], STALE[:12]]
    for text in (out, json.dumps(report)):
        assert SECRET not in text and TOKEN not in text and "ASIA" not in text


def test_a_missing_directory_is_said_and_not_created(tmp_path, capsys):
    missing = tmp_path / "never"
    assert main(["cache", "list", "--cache-dir", str(missing)]) == 0
    assert capsys.readouterr().out == f"cache     {missing} (does not exist yet: nothing cached)\n"
    assert main(["status", "--cache-dir", str(missing)]) == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(missing)]) == 0
    assert "nothing to clear" in capsys.readouterr().out
    assert not missing.exists()


def test_status_counts_one_entry_in_the_singular(tmp_path, capsys):
    cache = FileCache(tmp_path / "c")
    now = time.time()
    cache.set(FRESH, TemporaryCredentials("ASIAFRESH", SECRET, TOKEN, now + 3000, now, ARN))
    assert main(["status", "--cache-dir", str(tmp_path / "c")]) == 0
    assert f"{tmp_path / 'c'} (1 entry, not encrypted)" in capsys.readouterr().out


def test_clear_expired_prunes_expired_entries_and_unheld_locks_only(tmp_path, capsys):
    directory = tmp_path / "c"
    fill(directory)
    held = os.open(directory / f"{FRESH}.lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        assert main(["cache", "clear", "--expired", "--cache-dir", str(directory)]) == 0
        assert capsys.readouterr().out == (
            f"cache     {directory}: removed 1 expired entry and 1 lock file\n"
        )
        assert sorted(path.name for path in directory.iterdir()) == [
            f"{FRESH}.json",
            f"{FRESH}.lock",
        ], "a lock another process holds stays"
    finally:
        os.close(held)
    assert main(["cache", "clear", "--cache-dir", str(directory)]) == 0
    assert capsys.readouterr().out == f"cache     {directory}: removed 1 entry and 1 lock file\n"
    assert list(directory.iterdir()) == []


def test_a_wrong_key_is_one_warning_not_one_per_file(tmp_path, capsys, monkeypatch, refusing_sts):
    directory = tmp_path / "c"
    fill(directory, key=refreshsts.generate_key())
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", refreshsts.generate_key())
    assert main(["cache", "list", "--cache-dir", str(directory)]) == 0
    captured = capsys.readouterr()
    assert "(0 entries, 2 not readable with this key, encrypted)" in captured.out
    assert captured.err.count("WARNING") == 1
    assert "entries written with another key" in captured.err
    argv = ["status", "--role-arn", "arn:aws:iam::123456789012:role/r", "--cache-dir"]
    assert main([*argv, str(directory), "--region", "us-east-1"]) == 1
    assert capsys.readouterr().err.count("WARNING") == 1, "the session's reads add none"


def test_a_redis_cache_is_listed_and_cleared_without_secrets(redis_url, capsys, monkeypatch):
    key = refreshsts.generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)
    cache = refreshsts.RedisCache(redis_url, namespace="team")
    now = time.time()
    cache.set(FRESH, TemporaryCredentials("ASIAFRESH", SECRET, TOKEN, now + 3000, now, ARN))
    where = ["--redis-url", redis_url, "--namespace", "team"]
    assert main(["cache", "list", *where]) == 0
    out = capsys.readouterr().out
    assert "(1 entry, encrypted)" in out and out.rstrip().endswith(ARN)
    assert SECRET not in out and TOKEN not in out and "ASIA" not in out
    assert main(["cache", "clear", *where]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert cache.get(FRESH) is None
    assert main(["cache", "clear", "--expired", *where]) == 2
    assert "Redis removes expired entries itself" in capsys.readouterr().err


def test_an_oversized_redis_value_is_listed_as_unreadable(redis_url, capsys, monkeypatch):
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", refreshsts.generate_key())
    cache = refreshsts.RedisCache(redis_url, namespace="team")
    now = time.time()
    cache.set(FRESH, TemporaryCredentials("ASIAFRESH", SECRET, TOKEN, now + 3000, now, ARN))
    cache._client.set(cache._name("entry", STALE), b"SENTINEL" * 1_000_000)
    sent = int(cache._client.info("stats")["total_net_output_bytes"])
    assert main(["cache", "list", "--redis-url", redis_url, "--namespace", "team"]) == 0
    sent = int(cache._client.info("stats")["total_net_output_bytes"]) - sent
    assert sent < 100_000, "the 8 MB value stayed in Redis"
    captured = capsys.readouterr()
    assert "(1 entry, 1 not readable with this key, encrypted)" in captured.out
    assert "SENTINEL" not in captured.out + captured.err


def test_the_cache_commands_read_refreshsts_redis_url(redis_url, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", refreshsts.generate_key())
    monkeypatch.setenv("REFRESHSTS_REDIS_URL", redis_url)
    cache = refreshsts.RedisCache(redis_url, namespace="fleet")
    now = time.time()
    cache.set(FRESH, TemporaryCredentials("ASIAFRESH", SECRET, TOKEN, now + 3000, now, ARN))
    assert main(["cache", "list", "--namespace", "fleet"]) == 0
    assert "(1 entry, encrypted)" in capsys.readouterr().out
    assert main(["cache", "list", "--cache-dir", str(tmp_path / "files")]) == 0
    assert "does not exist" in capsys.readouterr().out, "--cache-dir still means the file cache"
    assert main(["cache", "clear", "--namespace", "fleet"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert cache.get(FRESH) is None


def test_status_of_a_role_warns_once_about_a_key_that_opens_nothing(
    world, proxied_aws_env, cli, cache_home
):
    written = cli(
        "credential-process",
        *role_args(world),
        env=environ(REFRESHSTS_CACHE_KEY=refreshsts.generate_key()),
    )
    assert written.returncode == 0, written.stderr
    status = cli(
        "status", *role_args(world), env=environ(REFRESHSTS_CACHE_KEY=refreshsts.generate_key())
    )
    assert status.returncode == 0, status.stderr
    assert status.stderr.count("WARNING") == 1, status.stderr
    assert "(1 entry, 1 not readable with this key, encrypted)" in status.stdout
