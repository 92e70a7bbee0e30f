"""The seed walkthrough, done by refreshsts against an embedded moto server on 127.0.0.1.

Builds the walkthrough's AWS setup (IAM user `myteststsuser` that may only sts:AssumeRole
into `sts-s3-read-only`, which has AmazonS3ReadOnlyAccess), switches IAM authentication on,
then does with one RefreshableSession what the walkthrough does with `aws sts assume-role`
and exported keys: list the bucket, get AccessDenied on upload, show the assumed-role
identity. Finally STS is told (through a loopback proxy) to hand out 6-second credentials,
and the keys are seen rotating under a loop of S3 requests with none signed by an expired key.

Run from a checkout: `scripts/demo` (or `.venv/bin/python examples/seed_walkthrough.py`
once the venv has the `demo` extra). The stand-in AWS is `local_aws.py`, next to this file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from botocore.exceptions import ClientError

import refreshsts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_aws import MotoServer, ShortLivedSts, aws_home, set_up_walkthrough

ROTATION_SECONDS = 6
ROTATION_RUN = 15.0


def mask(key: str) -> str:
    return f"{key[:4]}...{key[-4:]}"


def step(text: str) -> None:
    print(f"\n== {text}")


def main() -> int:
    failures = []
    with tempfile.TemporaryDirectory() as home, MotoServer() as server:
        step(f"Embedded AWS: moto server on {server.url}")
        world = set_up_walkthrough(server)
        server.check_iam(on=True)
        print(f"IAM user     {world.user_arn} (may only sts:AssumeRole)")
        print(f"IAM role     {world.role_arn} (AmazonS3ReadOnlyAccess, trusts the user)")
        print(f"S3 bucket    {world.bucket}")
        print("IAM authentication is on: AccessDenied below is real")

        with ShortLivedSts(server.url) as proxy:
            for name in [n for n in os.environ if n.startswith("AWS_")]:
                del os.environ[name]
            os.environ.update(aws_home(Path(home), world, proxy.url))

            step("One RefreshableSession instead of `aws sts assume-role` and exported keys")
            print(
                "session = refreshsts.RefreshableSession(\n"
                f'    refreshsts.AssumeRole("{world.role_arn}",\n'
                '                          session_name="mytestsession"),\n'
                '    source="ststestprofile", region="us-west-2", duration="1h")'
            )
            session = refreshsts.RefreshableSession(
                refreshsts.AssumeRole(world.role_arn, session_name="mytestsession"),
                source="ststestprofile",
                region="us-west-2",
                duration="1h",
            )

            step("aws sts get-caller-identity")
            arn = session.client("sts").get_caller_identity()["Arn"]
            print(arn)
            if not arn.endswith(f"assumed-role/{world.role_name}/mytestsession"):
                failures.append(f"unexpected identity {arn}")

            step("aws s3 ls")
            s3 = session.client("s3")
            for bucket in s3.list_buckets()["Buckets"]:
                print(f"{bucket['CreationDate']:%Y-%m-%d %H:%M:%S} {bucket['Name']}")
            if world.bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                failures.append("the bucket was not listed")

            step(f"aws s3 cp bucketest s3://{world.bucket}")
            try:
                s3.put_object(Bucket=world.bucket, Key="bucketest", Body=b"test")
                failures.append("the upload was allowed")
            except ClientError as exc:
                print(f"upload failed: {exc}")
                if exc.response["Error"]["Code"] != "AccessDenied":
                    failures.append(f"expected AccessDenied, got {exc.response['Error']['Code']}")

            step(f"Keys that rotate: STS now hands out {ROTATION_SECONDS}-second credentials")
            proxy.lifetime = ROTATION_SECONDS
            proxy.forget()
            short = refreshsts.RefreshableSession(
                refreshsts.AssumeRole(world.role_arn, session_name="mytestsession"),
                source="ststestprofile",
                region="us-west-2",
                cache=refreshsts.NoCache(),
            )
            short_s3 = short.client("s3")
            keys: list[str] = []
            requests = 0
            started = time.monotonic()
            while time.monotonic() - started < ROTATION_RUN:
                short_s3.list_objects_v2(Bucket=world.bucket)
                requests += 1
                key = short.get_credentials().get_frozen_credentials().access_key
                if not keys or keys[-1] != key:
                    keys.append(key)
                    expiry = short.get_credentials().expiration
                    print(
                        f"t={time.monotonic() - started:5.1f}s  key {mask(key)}  "
                        f"expires {expiry:%H:%M:%S}"
                    )
                time.sleep(0.05)
            expired = proxy.expired_signings()
            print(
                f"{requests} S3 requests, {len(keys)} keys, {proxy.calls('AssumeRole')} "
                f"AssumeRole calls, {expired} requests signed with an expired key"
            )
            if len(keys) < 2:
                failures.append("the keys never rotated")
            if expired:
                failures.append(f"{expired} requests were signed with an expired key")

    step("Result")
    if failures:
        for failure in failures:
            print(f"FAILED: {failure}")
        return 1
    print("The walkthrough works end to end, and its keys never expire on you.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
