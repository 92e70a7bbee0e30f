"""`refreshsts exec`: a child's own SDK on a private credential endpoint, against moto."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
from cli_helpers import AWS, REFRESHSTS, leaks, role_args

from refreshsts._internal.crypto import generate_key

ROTATING_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import boto3

    bucket, seconds = sys.argv[1], float(sys.argv[2])
    session = boto3.Session()
    s3 = session.client("s3")
    keys, errors, calls = [], [], 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            s3.list_objects_v2(Bucket=bucket)
            calls += 1
        except Exception as exc:
            errors.append(repr(exc))
        key = session.get_credentials().get_frozen_credentials().access_key
        if key not in keys:
            keys.append(key)
        time.sleep(0.25)
    method = session.get_credentials().method
    print(json.dumps({"keys": keys, "errors": errors, "calls": calls, "method": method}))
    """
)

SIGNAL_CHILD = textwrap.dedent(
    """
    import pathlib, signal, sys, time

    def caught(signum, frame):
        pathlib.Path(sys.argv[1]).write_text(str(signum))
        sys.exit(42)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), caught)
    print("ready", flush=True)
    time.sleep(30)
    sys.exit(3)
    """
)


def test_aws_sts_get_caller_identity_in_the_child_is_the_role(
    world, proxied_aws_env, sts_proxy, cli, monkeypatch
):
    monkeypatch.setenv("AWS_PROFILE", "ststestprofile")  # the child must not use it
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "stale-token-from-the-seed")
    done = cli(
        "exec",
        *role_args(world, "--session-name", "mytestsession"),
        "--",
        *AWS,
        "sts",
        "get-caller-identity",
    )
    assert done.returncode == 0, done.stderr
    arn = json.loads(done.stdout)["Arn"]
    assert arn == f"arn:aws:sts::{world.account_id}:assumed-role/{world.role_name}/mytestsession"
    assert sts_proxy.calls("AssumeRole") == 1


def test_the_child_sees_the_endpoint_and_not_the_parents_credentials(
    world, proxied_aws_env, cli, monkeypatch
):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "parent-token")
    monkeypatch.setenv("AWS_DEFAULT_PROFILE", "ststestprofile")
    show_env = "import json, os; print(json.dumps(dict(os.environ)))"
    done = cli("exec", *role_args(world), "--", sys.executable, "-c", show_env)
    assert done.returncode == 0, done.stderr
    env = json.loads(done.stdout)
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert len(env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) >= 40
    assert "AWS_SESSION_TOKEN" not in env
    assert "AWS_DEFAULT_PROFILE" not in env
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"


def test_the_child_never_sees_the_cache_key_or_the_redis_url(
    world, proxied_aws_env, cli, monkeypatch
):
    key = generate_key()
    monkeypatch.setenv("REFRESHSTS_CACHE_KEY", key)
    monkeypatch.setenv("REFRESHSTS_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    show_env = "import json, os; print(json.dumps(dict(os.environ)))"
    done = cli("exec", *role_args(world), "--", sys.executable, "-c", show_env)
    assert done.returncode == 0, done.stderr
    env = json.loads(done.stdout)
    assert [name for name in env if name.startswith("REFRESHSTS_")] == []
    assert leaks(done.stdout, key, "hunter2") == []
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")


def test_exit_status_passes_through(world, proxied_aws_env, cli):
    exits_7 = cli("exec", *role_args(world), "--", sys.executable, "-c", "raise SystemExit(7)")
    assert exits_7.returncode == 7
    killed = cli(
        "exec",
        *role_args(world),
        "--",
        sys.executable,
        "-c",
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
    )
    assert killed.returncode == 128 + signal.SIGKILL
    missing = cli("exec", *role_args(world), "--", "no-such-command-anywhere")
    assert missing.returncode == 127
    assert "command not found" in missing.stderr


def test_no_command_runs_when_the_role_cannot_be_assumed(world, proxied_aws_env, cli, tmp_path):
    marker = tmp_path / "ran"
    other = world.role_arn.replace(world.role_name, "not-mine")
    done = cli(
        "exec",
        "--role-arn",
        other,
        "--source-profile",
        "ststestprofile",
        "--",
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'w')",
    )
    assert done.returncode == 1
    assert "AccessDenied" in done.stderr
    assert leaks(done.stderr, world.secret_access_key) == []
    assert not marker.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_are_forwarded_to_the_child(world, proxied_aws_env, cache_home, tmp_path, signum):
    marker = tmp_path / "caught"
    parent = subprocess.Popen(
        [
            *REFRESHSTS,
            "exec",
            *role_args(world),
            "--",
            sys.executable,
            "-c",
            SIGNAL_CHILD,
            str(marker),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal: SIGINT is ours to forward
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == "ready\n"
        parent.send_signal(signum)
        assert parent.wait(timeout=20) == 42
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert marker.read_text() == str(int(signum))


@pytest.mark.slow
def test_a_plain_boto3_child_keeps_working_across_three_rotations(
    world, proxied_aws_env, sts_proxy, cli
):
    sts_proxy.expiration_seconds = 6
    done = cli(
        "exec",
        *role_args(world),
        "--",
        sys.executable,
        "-c",
        ROTATING_CHILD,
        world.bucket,
        "16",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == []
    assert report["method"] == "container-role"
    assert len(report["keys"]) >= 4, report  # three rotations at least
    assert report["calls"] >= 30
    assert set(report["keys"]) <= set(sts_proxy.issued)
    assert sts_proxy.expired_signings() == []
    assert sts_proxy.calls("AssumeRole") == len(sts_proxy.issued)
