"""Memory of account sessions, measured by tracemalloc in a process of its own.

    python account_memory.py MODE [COUNT]   (prints one JSON object)

Keys and AWS_ENDPOINT_URL come from the environment (a moto server with IAM auth off and no
managed policies: `MotoServer(managed_policies=False)`). Accounts are 100000000000 + i, the
hub is in 111111111111: moto answers AssumeRole for a role that does not exist in an account
it has never seen, so no account needs building. Modes:

- `refreshsts`: COUNT live account sessions of one AccountRoles, credentials fetched and an S3
  client made in each; bytes per session.
- `boto3`: the same by hand in plain boto3 (one AssumeRole per account through one STS client,
  then a `boto3.Session` with those keys and its S3 client); bytes per session.
- `bounded`: AccountRoles with max_sessions=16 visits COUNT accounts; the growth from account
  100 to the last, next to what 16 sessions take.

Run by tests/integration/test_account_memory.py and benchmarks/bench/accounts.py.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROLE_TEMPLATE = "arn:aws:iam::{account}:role/audit"
HUB_ARN = "arn:aws:iam::111111111111:role/hub"
REGION = "us-west-2"
WARM = 3
BOUNDED_SESSIONS = 16
BOUNDED_FROM = 100


SRC = Path(__file__).resolve().parents[2] / "src"


def isolated_env(endpoint_url: str) -> dict[str, str]:
    """This environment without AWS settings, plus moto's test keys and `endpoint_url`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name != "MOTO_ACCOUNT_ID"
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def run(mode: str, count: int, endpoint_url: str, *, timeout: float = 900) -> dict[str, Any]:
    """Measure `mode` in a new process of this script, against `endpoint_url`."""
    env = isolated_env(endpoint_url)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, __file__, mode, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} measurement failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def boto3_session(credentials: dict[str, Any]) -> Any:
    """A plain boto3.Session on the keys of an AssumeRole answer."""
    import boto3  # noqa: PLC0415

    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def account(index: int) -> str:
    return str(100_000_000_000 + index)


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def visit(session: Any, _account: str) -> None:
    session.get_credentials().get_frozen_credentials()
    session.client("s3")


def roles(**options: Any) -> Any:
    import refreshsts  # noqa: PLC0415 - imported after tracemalloc's baseline is irrelevant

    return refreshsts.AccountRoles(
        ROLE_TEMPLATE,
        refreshsts.AssumeRole(HUB_ARN, session_name="scanner-hub"),
        session_name="scan",
        region=REGION,
        cache=refreshsts.MemoryCache(maxsize=4096),
        **options,
    )


def measure_refreshsts(count: int) -> dict[str, Any]:
    scanner = roles(max_sessions=count + WARM)
    for _ in scanner.map(visit, [account(i) for i in range(WARM)], max_workers=1):
        pass
    before = traced()
    started = time.perf_counter()
    results = list(scanner.map(visit, [account(WARM + i) for i in range(count)], max_workers=4))
    seconds = time.perf_counter() - started
    after = traced()
    failures = [repr(r) for _, r in results if r is not None]
    return {"bytes_per_session": (after - before) / count, "seconds": seconds, "failures": failures}


def measure_boto3(count: int) -> dict[str, Any]:
    import boto3  # noqa: PLC0415

    hub = boto3.Session(region_name=REGION).client("sts")
    creds = hub.assume_role(RoleArn=HUB_ARN, RoleSessionName="scanner-hub")["Credentials"]
    sts = boto3_session(creds).client("sts")
    kept = []

    def one(index: int) -> None:
        role = ROLE_TEMPLATE.format(account=account(index))
        keys = sts.assume_role(RoleArn=role, RoleSessionName="scan")["Credentials"]
        session = boto3_session(keys)
        kept.append((session, session.client("s3")))

    for index in range(WARM):
        one(index)
    before = traced()
    for index in range(count):
        one(WARM + index)
    after = traced()
    return {"bytes_per_session": (after - before) / count, "failures": []}


def measure_bounded(count: int) -> dict[str, Any]:
    scanner = roles(max_sessions=BOUNDED_SESSIONS)
    marks: dict[str, int] = {}
    failures: list[str] = []
    for index, (_, result) in enumerate(
        scanner.map(visit, [account(i) for i in range(count)], max_workers=4), start=1
    ):
        if result is not None:
            failures.append(repr(result))
        if index == BOUNDED_FROM:
            marks["from"] = traced()
    marks["to"] = traced()
    return {
        "growth_bytes": marks["to"] - marks["from"],
        "accounts_after_mark": count - BOUNDED_FROM,
        "live_sessions": len(scanner),
        "failures": failures,
    }


def main(argv: list[str]) -> int:
    mode = argv[1]
    count = int(argv[2]) if len(argv) > 2 else 40
    tracemalloc.start()
    measure = {"refreshsts": measure_refreshsts, "boto3": measure_boto3, "bounded": measure_bounded}
    print(json.dumps({"mode": mode, "count": count, **measure[mode](count)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
