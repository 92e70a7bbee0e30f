"""`refreshsts cache-process -- COMMAND`: a wrapped credential_process that runs when due."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess

import awscli
import boto3
import pytest
import time_machine
from awscli.clidriver import create_clidriver
from cli_helpers import AWS, REFRESHSTS, run

from fixtures.credential_process import CountingProcess, rfc3339, version1
from refreshsts import generate_key
from refreshsts.cli import main

PROFILE = "wrapped"


@pytest.fixture
def process(tmp_path):
    return CountingProcess(tmp_path / "process")


def cache_process(process, cache_dir, *options):
    """The command line of `refreshsts cache-process` wrapping `process`."""
    return [
        *REFRESHSTS,
        "cache-process",
        "--cache-dir",
        str(cache_dir),
        *options,
        "--",
        *process.argv,
    ]


def wrapped(process, cache_dir, capfd):
    """Run cache-process in this process (a new source and cache each time, as a new process
    would make); returns (status, stdout, stderr), stderr including the command's."""
    status = main(["cache-process", "--cache-dir", str(cache_dir), "--", *process.argv])
    out, err = capfd.readouterr()
    return status, out, err


@pytest.fixture
def aws(aws_env, monkeypatch):
    """The AWS CLI's driver, run in this process: the credential_process still runs apart.

    `aws_env` removed the AWS_DATA_PATH that importing awscli set, where its data is.
    """
    monkeypatch.setenv("AWS_DATA_PATH", os.path.join(os.path.dirname(awscli.__file__), "data"))
    return lambda *args: create_clidriver().main(list(args))


def role_credentials(world):
    sts = boto3.client(
        "sts",
        region_name="us-west-2",
        endpoint_url=world.endpoint_url,
        **world.user_credentials,
    )
    creds = sts.assume_role(RoleArn=world.role_arn, RoleSessionName="wrapped")["Credentials"]
    return version1(
        creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"], world.account_id
    )


@pytest.mark.slow
def test_20_aws_cli_calls_run_the_wrapped_command_once(
    world, aws_env, aws, process, tmp_path, capfd
):
    process.answer(role_credentials(world), expires_in=3600)
    line = shlex.join(cache_process(process, tmp_path / "cache"))
    aws_env.add_config(f"[profile {PROFILE}]\nregion = us-west-2\ncredential_process = {line}\n")
    for _ in range(20):
        assert aws("s3api", "list-objects-v2", "--bucket", world.bucket, "--profile", PROFILE) == 0
        out, err = capfd.readouterr()
        assert world.object_key in out, err
    assert process.runs == 1
    (tmp_path / "up").write_text("x")
    upload = aws("s3", "cp", str(tmp_path / "up"), f"s3://{world.bucket}/up", "--profile", PROFILE)
    assert upload != 0
    assert "AccessDenied" in capfd.readouterr().err
    assert process.runs == 1


def test_prints_the_cached_version_1_json_and_runs_again_only_when_due(process, tmp_path, capfd):
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    output = {**process.output, "AccountId": "123456789012"}
    process.answer(output, expiration=rfc3339(start + dt.timedelta(hours=1)))
    with time_machine.travel(start, tick=False) as clock:
        status, first, _ = wrapped(process, tmp_path / "c", capfd)
        assert status == 0
        assert json.loads(first) == {**output, "Expiration": rfc3339(start + dt.timedelta(hours=1))}
        clock.move_to(start + dt.timedelta(minutes=44))
        assert wrapped(process, tmp_path / "c", capfd)[1] == first
        assert process.runs == 1
        clock.move_to(start + dt.timedelta(minutes=61))
        process.answer(expiration=rfc3339(start + dt.timedelta(hours=2)))
        status, later, _ = wrapped(process, tmp_path / "c", capfd)
    assert process.runs == 2, "the expired entry was not served"
    assert json.loads(later)["Expiration"] == rfc3339(start + dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("later", "printed"),
    [
        (dt.timedelta(minutes=61), False),  # expired
        (dt.timedelta(minutes=59, seconds=50), False),  # 10 s left: inside the mandatory window
        (dt.timedelta(minutes=50), True),  # 10 min left: inside the advisory window only
    ],
    ids=["expired", "mandatory", "advisory"],
)
def test_when_the_command_fails_old_keys_are_printed_only_outside_the_mandatory_window(
    process, tmp_path, capfd, later, printed
):
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    process.answer(expiration=rfc3339(start + dt.timedelta(hours=1)))
    with time_machine.travel(start, tick=False) as clock:
        status, first, _ = wrapped(process, tmp_path / "c", capfd)
        assert status == 0
        clock.move_to(start + later)
        process.answer(stderr="okta-aws-cli: your session has expired\n", exit=3)
        status, out, err = wrapped(process, tmp_path / "c", capfd)
    assert process.runs == 2
    assert "okta-aws-cli: your session has expired" in err
    if printed:
        assert (status, out) == (0, first)
    else:
        assert (status, out) == (3, "")
        assert "exited with status 3" in err


def test_keys_that_expire_while_the_command_runs_are_not_printed(process, tmp_path, capfd):
    expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    process.answer(expiration=rfc3339(expiration), sleep=3)
    status, out, err = wrapped(process, tmp_path / "c", capfd)
    assert (status, out) == (1, "")
    assert "printed credentials that expired at" in err


def test_a_failing_command_passes_its_stderr_and_exit_status_and_caches_nothing(process, tmp_path):
    process.answer(stderr="okta-aws-cli: your session has expired\n", exit=42)
    failed = run(cache_process(process, tmp_path / "c"))
    assert failed.returncode == 42
    assert failed.stdout == ""
    assert "okta-aws-cli: your session has expired" in failed.stderr
    assert "exited with status 42" in failed.stderr
    assert process.output["SecretAccessKey"] not in failed.stderr
    assert not list((tmp_path / "c").glob("*.json"))
    process.answer(stderr="", exit=0, expires_in=3600)
    done = run(cache_process(process, tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["SecretAccessKey"] == process.output["SecretAccessKey"]
    assert process.runs == 2


def test_the_aws_cli_shows_the_wrapped_commands_error(
    world, aws_env, aws, process, tmp_path, capfd
):
    process.answer(stderr="saml2aws: MFA push was rejected\n", exit=1)
    line = shlex.join(cache_process(process, tmp_path / "c"))
    aws_env.add_config(f"[profile {PROFILE}]\nregion = us-west-2\ncredential_process = {line}\n")
    assert aws("s3", "ls", "--profile", PROFILE) != 0
    assert "saml2aws: MFA push was rejected" in capfd.readouterr().err


@pytest.mark.slow
def test_concurrent_runs_run_the_command_once(process, tmp_path):
    process.answer(sleep=1.0, expires_in=3600)
    command = cache_process(process, tmp_path / "c")
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    outputs = [child.communicate(timeout=60) for child in runs]
    assert [child.returncode for child in runs] == [0] * 8, [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    assert process.runs == 1


def test_a_tampered_entry_is_not_served(process, tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", generate_key())
    assert wrapped(process, tmp_path / "c", capfd)[0] == 0
    (entry,) = (tmp_path / "c").glob("*.json")
    assert process.output["SecretAccessKey"].encode() not in entry.read_bytes()
    data = bytearray(entry.read_bytes())
    data[-20] ^= 1
    entry.write_bytes(bytes(data))
    status, out, err = wrapped(process, tmp_path / "c", capfd)
    assert status == 0
    assert json.loads(out)["SecretAccessKey"] == process.output["SecretAccessKey"]
    assert "not trusting cache file" in err
    assert process.runs == 2


def test_output_without_expiration_is_passed_on_and_never_cached(process, tmp_path, capfd):
    process.answer(version1("AKIAUSERKEY", "user-secret"))
    for _ in range(2):
        status, out, _ = wrapped(process, tmp_path / "c", capfd)
        assert status == 0
        assert json.loads(out) == version1("AKIAUSERKEY", "user-secret")
    assert process.runs == 2
    assert not list((tmp_path / "c").glob("*.json"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cache-process"], "needs the command to wrap"),
        (["cache-process", "--"], "needs the command to wrap"),
        (["cache-process", "--timeout", "0", "--", "x"], "out of range"),
        (["cache-process", "--", "sh", "-c", "exit 0"], "did not print JSON"),
    ],
)
def test_usage_errors_and_bad_output(args, message, capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    status = main(args)
    assert status in (1, 2)
    assert message in capfd.readouterr().err


def test_a_command_leading_back_to_itself_is_refused(tmp_path, aws_env):
    inner = [*AWS, "sts", "get-caller-identity", "--profile", PROFILE]
    line = shlex.join(
        [*REFRESHSTS, "cache-process", "--cache-dir", str(tmp_path / "c"), "--", *inner]
    )
    aws_env.add_config(f"[profile {PROFILE}]\nregion = us-west-2\ncredential_process = {line}\n")
    done = run(shlex.split(line), timeout=90)
    assert done.returncode != 0
    assert "cache-process is already running further up with the same command" in done.stderr
