"""`refreshsts credential-process` for the real AWS CLI, against the moto server."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys

import pytest
from cli_helpers import PROFILE, leaks, role_args

import refreshsts
from fixtures.sts_proxy import GARBLED_SECRET, GARBLED_TOKEN, garbled_credentials

RO_PROFILE = "s3-read-only"


def credential_process_line(world, *extra):
    command = [sys.executable, "-m", "refreshsts", "credential-process", *role_args(world, *extra)]
    return shlex.join(command)


def add_credential_process_profile(aws_env, world, *extra):
    aws_env.add_config(
        f"[profile {RO_PROFILE}]\nregion = us-west-2\n"
        f"credential_process = {credential_process_line(world, *extra)}\n"
    )


def test_prints_version_1_json_and_reads_the_file_cache_the_second_time(
    world, proxied_aws_env, sts_proxy, cli, cache_home
):
    first = cli("credential-process", *role_args(world))
    assert first.returncode == 0, first.stderr
    output = json.loads(first.stdout)
    assert set(output) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
        "AccountId",
    }
    assert output["Version"] == 1
    assert output["AccountId"] == world.account_id
    expires = dt.datetime.strptime(output["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    left = expires.replace(tzinfo=dt.timezone.utc) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(minutes=55) < left <= dt.timedelta(hours=1)
    second = cli("credential-process", *role_args(world))
    assert json.loads(second.stdout) == output
    assert sts_proxy.calls("AssumeRole") == 1
    entries = list(refreshsts_cache(cache_home).entries())
    assert [entry.arn for entry in entries] == [
        f"arn:aws:sts::{world.account_id}:assumed-role/{world.role_name}/{entries[0].arn.split('/')[-1]}"
    ]


def refreshsts_cache(cache_home):
    return refreshsts.FileCache(cache_home / "refreshsts")


def test_cache_dir_and_no_cache(world, proxied_aws_env, sts_proxy, cli, tmp_path):
    for _ in range(2):
        done = cli("credential-process", *role_args(world, "--cache-dir", str(tmp_path / "c")))
        assert done.returncode == 0, done.stderr
    assert sts_proxy.calls("AssumeRole") == 1
    assert len(list(refreshsts.FileCache(tmp_path / "c").entries())) == 1
    for _ in range(2):
        done = cli("credential-process", *role_args(world, "--no-cache"))
        assert done.returncode == 0, done.stderr
    assert sts_proxy.calls("AssumeRole") == 3


def test_the_aws_cli_lists_the_bucket_and_is_denied_the_upload(
    world, proxied_aws_env, sts_proxy, aws, tmp_path
):
    add_credential_process_profile(proxied_aws_env, world, "--session-name", "mytestsession")
    listing = aws("s3", "ls", "--profile", RO_PROFILE)  # the seed's `aws s3 ls`
    assert listing.returncode == 0, listing.stderr
    assert world.bucket in listing.stdout
    objects = aws("s3api", "list-objects-v2", "--bucket", world.bucket, "--profile", RO_PROFILE)
    assert objects.returncode == 0, objects.stderr
    assert world.object_key in objects.stdout
    (tmp_path / "bucketest").write_text("hello\n")
    upload = aws(
        "s3",
        "cp",
        str(tmp_path / "bucketest"),
        f"s3://{world.bucket}/bucketest",
        "--profile",
        RO_PROFILE,
    )
    assert upload.returncode != 0
    assert "AccessDenied" in upload.stderr
    identity = aws("sts", "get-caller-identity", "--profile", RO_PROFILE)
    assert json.loads(identity.stdout)["Arn"].endswith(
        f":assumed-role/{world.role_name}/mytestsession"
    )
    assert sts_proxy.calls("AssumeRole") == 1


@pytest.mark.slow
def test_20_aws_invocations_make_one_assume_role(world, proxied_aws_env, sts_proxy, aws):
    add_credential_process_profile(proxied_aws_env, world)
    for _ in range(20):
        done = aws("s3api", "list-objects-v2", "--bucket", world.bucket, "--profile", RO_PROFILE)
        assert done.returncode == 0, done.stderr
        assert world.object_key in done.stdout
    assert sts_proxy.calls("AssumeRole") == 1
    assert sts_proxy.calls(f"GET /{world.bucket}") == 20


def test_a_denied_role_exits_1_with_the_reason_and_no_secret(
    world, proxied_aws_env, sts_proxy, cli
):
    other = world.role_arn.replace(world.role_name, "not-mine")
    done = cli("credential-process", "--role-arn", other, "--source-profile", PROFILE, "--no-cache")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "AccessDenied" in done.stderr
    assert "Traceback" not in done.stderr
    assert leaks(done.stderr, world.secret_access_key, world.access_key_id) == []


def test_sts_failures_exit_1_and_configuration_errors_exit_2(
    world, proxied_aws_env, sts_proxy, cli
):
    sts_proxy.fail_all(("error", "InvalidClientTokenId", "The security token is invalid.", 403))
    failed = cli("credential-process", *role_args(world, "--no-cache"))
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "could not refresh" in failed.stderr
    assert "InvalidClientTokenId" in failed.stderr
    assert leaks(failed.stderr, world.secret_access_key) == []
    sts_proxy.heal()
    missing = cli("credential-process", "--role-arn", world.role_arn, "--source-profile", "nobody")
    assert missing.returncode == 2
    assert "no such profile" in missing.stderr
    too_short = cli("credential-process", *role_args(world, "--duration", "5m"))
    assert too_short.returncode == 2
    assert "out of range" in too_short.stderr


def test_a_profile_that_sources_itself_is_refused_instead_of_looping(
    world, proxied_aws_env, aws, monkeypatch
):
    line = shlex.join(
        [sys.executable, "-m", "refreshsts", "credential-process", "--role-arn", world.role_arn]
    )
    proxied_aws_env.add_config(f"[profile loop]\nregion = us-west-2\ncredential_process = {line}\n")
    monkeypatch.setenv("AWS_PROFILE", "loop")
    done = aws("sts", "get-caller-identity", timeout=60)
    assert done.returncode != 0
    assert "already running further up" in done.stderr


def test_from_profile_reads_the_role_from_the_config(world, proxied_aws_env, sts_proxy, cli):
    proxied_aws_env.add_config(
        f"[profile from-config]\nrole_arn = {world.role_arn}\nsource_profile = {PROFILE}\n"
        "role_session_name = mytestsession\nregion = us-west-2\n"
    )
    for _ in range(2):
        done = cli("credential-process", "--from-profile", "from-config")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["Version"] == 1
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id]
    whoami = cli("whoami", "--from-profile", "from-config")
    assert json.loads(whoami.stdout)["Arn"].endswith(f"/{world.role_name}/mytestsession")


def test_an_unparsable_sts_answer_never_reaches_stderr(world, proxied_aws_env, sts_proxy, cli):
    sts_proxy.fail_all(("raw", 200, garbled_credentials()), action="AssumeRole")
    done = cli("-vv", "credential-process", *role_args(world), "--no-cache")
    assert done.returncode == 1
    assert "ResponseParserError" in done.stderr
    assert leaks(done.stdout + done.stderr, GARBLED_SECRET, GARBLED_TOKEN) == []
    sts_proxy.heal()
    sts_proxy.fail_all(("raw", 200, garbled_credentials()), action="GetCallerIdentity")
    done = cli("-vv", "whoami", *role_args(world), "--no-cache")
    assert done.returncode == 1
    assert "ResponseParserError" in done.stderr
    assert leaks(done.stdout + done.stderr, GARBLED_SECRET, GARBLED_TOKEN) == []


def test_a_fifo_in_place_of_the_entry_hangs_neither_credential_process_nor_status(
    world, proxied_aws_env, sts_proxy, cli, cache_home
):
    assert cli("credential-process", *role_args(world)).returncode == 0
    (entry,) = (cache_home / "refreshsts").glob("*.json")
    entry.unlink()
    os.mkfifo(entry, 0o600)
    status = cli("status", "--json", timeout=20)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["cache"]["entries"] == []
    again = cli("credential-process", *role_args(world), timeout=20)
    assert again.returncode == 0, again.stderr
    assert "not a regular file" in again.stderr
    assert sts_proxy.calls("AssumeRole") == 2
    assert entry.is_file()
