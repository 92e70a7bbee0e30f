"""credential_process figures: what 20 `aws` commands cost through a plain credential_process
and through `refreshsts cache-process`, which runs the command only when nothing is fresh."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fixtures.moto_server import REGION

from .harness import Bench, mark, print_goals, print_table, ratio_text

AWS_CALLS = 20
HIT_CALLS = 10
GOAL_RUNS = 1

_SCRIPT = """\
import datetime, json, pathlib, time
time.sleep({delay})
counter = pathlib.Path({counter!r})
counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() else "1")
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
print(json.dumps({{"Version": 1, "AccessKeyId": {key!r}, "SecretAccessKey": {secret!r},
                  "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"""


def _runs(counter: Path) -> int:
    return int(counter.read_text() or 0) if counter.exists() else 0


def bench_credential_process(bench: Bench, tmp: Path, *, delay: float) -> dict[str, Any]:
    """20 `aws sts get-caller-identity` per side, interleaved; the command sleeps `delay` s,
    as a sign-in helper that asks an identity provider would (okta-aws-cli: about a second)."""
    world = bench.world
    script, counter = tmp / "credential_process.py", tmp / "runs"
    script.write_text(
        _SCRIPT.format(
            delay=delay,
            counter=str(counter),
            key=world.access_key_id,
            secret=world.secret_access_key,
        )
    )
    command = f"{sys.executable} {script}"
    refreshsts = f"{sys.executable} -m refreshsts cache-process --cache-dir {tmp / 'cache'} --"
    bench.files.add_config(
        f"[profile cp-plain]\ncredential_process = {command}\nregion = {REGION}\n\n"
        f"[profile cp-cached]\ncredential_process = {refreshsts} {command}\nregion = {REGION}\n"
    )
    aws = str(Path(sys.executable).with_name("aws"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    sides: dict[str, dict[str, Any]] = {}
    for name in ("cp-plain", "cp-cached"):
        sides[name] = {"seconds": [], "runs": 0}
    for index in range(AWS_CALLS):
        order = ("cp-plain", "cp-cached") if index % 2 == 0 else ("cp-cached", "cp-plain")
        for name in order:
            before = _runs(counter)
            started = time.perf_counter()
            subprocess.run(
                [aws, "sts", "get-caller-identity", "--profile", name],
                env=env,
                check=True,
                capture_output=True,
            )
            sides[name]["seconds"].append(time.perf_counter() - started)
            sides[name]["runs"] += _runs(counter) - before
    hits: dict[str, list[float]] = {"command": [], "cache-process": []}
    wrapped = [
        sys.executable,
        "-m",
        "refreshsts",
        "cache-process",
        "--cache-dir",
        str(tmp / "cache"),
        "--",
        sys.executable,
        str(script),
    ]
    for _ in range(HIT_CALLS):
        for name, argv in (("command", [sys.executable, str(script)]), ("cache-process", wrapped)):
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            hits[name].append(time.perf_counter() - started)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    return {
        "aws_calls": AWS_CALLS,
        "command_seconds": delay,
        "plain": {
            "runs": sides["cp-plain"]["runs"],
            "ms": median(sides["cp-plain"]["seconds"]) * 1000,
        },
        "cached": {
            "runs": sides["cp-cached"]["runs"],
            "ms": median(sides["cp-cached"]["seconds"]) * 1000,
        },
        "alone_ms": {name: median(values) * 1000 for name, values in hits.items()},
    }


def report_ways(ways: dict[str, Any]) -> list[dict[str, Any]]:
    plain, cached, alone = ways["plain"], ways["cached"], ways["alone_ms"]
    n = ways["aws_calls"]
    rows = [
        (
            f"command runs for {n} `aws` commands",
            f"{plain['runs']}",
            f"{cached['runs']}",
            f"{cached['runs']}/{plain['runs']}",
            "1",
            mark(cached["runs"] == GOAL_RUNS),
        ),
        (
            f"ms per `aws sts get-caller-identity` (command sleeps {ways['command_seconds']} s)",
            f"{plain['ms']:.0f}",
            f"{cached['ms']:.0f}",
            ratio_text(cached["ms"], plain["ms"]),
            "",
            "",
        ),
        (
            "ms per credential_process run alone (cache hit vs the command)",
            f"{alone['command']:.0f}",
            f"{alone['cache-process']:.0f}",
            ratio_text(alone["cache-process"], alone["command"]),
            "",
            "",
        ),
    ]
    print("\ncredential_process: plain (botocore column) vs `refreshsts cache-process` wrapped")
    print_table(rows)
    goals = [
        {
            "goal": f"cache-process runs the command once for {n} aws commands",
            "value": cached["runs"],
            "pass": cached["runs"] == GOAL_RUNS,
        }
    ]
    print_goals(goals)
    return goals
