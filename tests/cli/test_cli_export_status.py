"""`refreshsts export`, `whoami` and `status` against the moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cli_helpers import leaks, role_args

import refreshsts

LIST_OBJECTS = (
    "import boto3, os, sys; "
    "s3 = boto3.Session(region_name='us-west-2').client('s3'); "
    "keys = [o['Key'] for o in s3.list_objects_v2(Bucket=sys.argv[1])['Contents']]; "
    "print(boto3.Session().get_credentials().method, *keys)"
)


def test_export_sourced_by_a_real_sh_gives_working_keys(world, proxied_aws_env, cli, tmp_path):
    done = cli("export", *role_args(world), "--format", "sh")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out.sh"
    out.write_text(done.stdout)
    env = {**os.environ, "AWS_SECURITY_TOKEN": "stale-token-from-an-hour-ago"}
    listed = subprocess.run(
        [
            "sh",
            "-c",
            '. ./out.sh; exec "$0" -c "$1" "$2"',
            sys.executable,
            LIST_OBJECTS,
            world.bucket,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["env", world.object_key]


def test_export_formats_carry_the_same_credentials(world, proxied_aws_env, sts_proxy, cli):
    as_json = json.loads(cli("export", *role_args(world), "--format", "json").stdout)
    assert as_json["AWS_SECURITY_TOKEN"] == as_json["AWS_SESSION_TOKEN"]
    assert as_json["AWS_CREDENTIAL_EXPIRATION"].endswith("Z")
    assert as_json["AWS_ACCOUNT_ID"] == world.account_id
    dotenv = cli("export", *role_args(world), "--format", "dotenv").stdout
    assert f"AWS_ACCESS_KEY_ID={as_json['AWS_ACCESS_KEY_ID']}\n" in dotenv
    fish = cli("export", *role_args(world), "--format", "fish").stdout
    assert f"set -gx AWS_SESSION_TOKEN '{as_json['AWS_SESSION_TOKEN']}'\n" in fish
    powershell = cli("export", *role_args(world), "--format", "powershell").stdout
    assert f"$Env:AWS_SECRET_ACCESS_KEY = '{as_json['AWS_SECRET_ACCESS_KEY']}'\n" in powershell
    assert sts_proxy.calls("AssumeRole") == 1  # the FileCache served the other three


def test_whoami_prints_the_role_session(world, proxied_aws_env, cli):
    done = cli("whoami", *role_args(world, "--session-name", "mytestsession"))
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert identity["Arn"] == (
        f"arn:aws:sts::{world.account_id}:assumed-role/{world.role_name}/mytestsession"
    )
    assert identity["Account"] == world.account_id


def test_status_shows_identity_expiry_and_cache_entries_but_no_secret(
    world, proxied_aws_env, cli, cache_home
):
    exported = json.loads(cli("export", *role_args(world), "--format", "json").stdout)
    text = cli("status", *role_args(world))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("identity  arn:aws:sts::")
    assert lines[2].startswith("expires   ") and "(in 59m" in lines[2]
    assert f"{cache_home / 'refreshsts'} (1 entry, not encrypted)" in lines[3]
    assert f":assumed-role/{world.role_name}/" in lines[4]
    report = json.loads(cli("status", "--json").stdout)
    assert "identity" not in report
    [entry] = report["cache"]["entries"]
    assert 3500 < entry["expires_in"] <= 3600
    for output in (text.stdout, json.dumps(report)):
        assert (
            leaks(
                output,
                exported["AWS_ACCESS_KEY_ID"],
                exported["AWS_SECRET_ACCESS_KEY"],
                exported["AWS_SESSION_TOKEN"],
                world.secret_access_key,
            )
            == []
        )
    assert len(list(refreshsts.FileCache(cache_home / "refreshsts").entries())) == 1
