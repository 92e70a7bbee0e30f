"""What every benchmark family shares: the moto server and STS proxy world, timing, tables."""

from __future__ import annotations

import gc
import itertools
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
import moto

import refreshsts
from fixtures.moto_server import (
    PROFILE,
    REGION,
    MotoServer,
    build_world,
    write_aws_files,
)
from fixtures.sts_proxy import StsProxy
from refreshsts import (
    AssumeRole,
    RefreshableSession,
)

BOTOCORE_PROFILE = "botocore-role"  # duration_seconds = 900
BOTOCORE_PROFILE_1H = "botocore-role-1h"  # duration_seconds = 3600

# -- helpers ------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "cpus": str(os.cpu_count()),
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "refreshsts": refreshsts.__version__,
        "moto": moto.__version__,
    }


def isolate_environment() -> None:
    """Drop the host's AWS settings, so nothing but the temporary HOME is read."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("BOTO_CONFIG", "MOTO_ACCOUNT_ID"):
            del os.environ[name]


def loop_seconds(fn: Callable[[], Any], calls: int) -> float:
    """Seconds for `calls` calls of `fn`, gc off (as timeit does); includes the loop itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in itertools.repeat(None, calls):
            fn()
        return time.perf_counter() - started
    finally:
        if enabled:
            gc.enable()


def interleaved(
    a: Callable[[], Any],
    b: Callable[[], Any],
    rounds: int,
    *,
    between: Callable[[], Any] = gc.collect,
) -> tuple[list[float], list[float]]:
    """Time `a` and `b` alternately (AB, BA, AB, ...) so drift and noise hit both alike."""
    times_a: list[float] = []
    times_b: list[float] = []
    for index in range(rounds):
        order = ((a, times_a), (b, times_b)) if index % 2 == 0 else ((b, times_b), (a, times_a))
        for fn, sink in order:
            between()
            started = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - started)
    return times_a, times_b


def ratio_text(rs: float, bc: float) -> str:
    if bc <= 0 or rs <= 0:
        return f"{rs / bc:.3f}" if bc > 0 else "n/a"
    r = rs / bc
    if r >= 1:
        return f"{r:.2f}x"
    inverse = bc / rs
    return f"{r:.3f} (1/{inverse:.1f})" if inverse < 100 else f"{r:.1e} (1/{inverse:,.0f})"


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# -- the world ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, server: MotoServer, proxy: StsProxy, world: Any, files: Any) -> None:
        self.server = server
        self.proxy = proxy
        self.world = world
        self.files = files

    def assume_role_calls(self) -> int:
        return self.proxy.calls("AssumeRole")

    def refreshsts_session(self, **options: Any) -> RefreshableSession:
        return RefreshableSession(
            AssumeRole(self.world.role_arn, session_name="bench"),
            source=PROFILE,
            region=REGION,
            **options,
        )


def setup(home: Path) -> tuple[Bench, MotoServer, StsProxy]:
    server = MotoServer().start()
    try:
        world = build_world(server, suffix="-bench")
        server.auth_on()
        proxy = StsProxy(server.url).start()
    except BaseException:
        server.stop()
        raise
    files = write_aws_files(home, world.access_key_id, world.secret_access_key, proxy.url)
    for name, seconds in ((BOTOCORE_PROFILE, 900), (BOTOCORE_PROFILE_1H, 3600)):
        files.add_config(
            f"[profile {name}]\n"
            f"role_arn = {world.role_arn}\n"
            f"source_profile = {PROFILE}\n"
            f"duration_seconds = {seconds}\n"
            "role_session_name = bench\n"
            f"region = {REGION}\n"
        )
    os.environ.update(files.env)  # AWS_ENDPOINT_URL is the proxy
    return Bench(server, proxy, world, files), server, proxy


# -- report ------------------------------------------------------------------------------------


def print_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None) -> None:
    header = header or ("measure", "botocore", "refreshsts", "ratio rs/bc", "goal", "")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(line)


def print_goals(goals: list[dict[str, Any]]) -> None:
    print()
    for goal in goals:
        value = goal["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {mark(goal['pass'])}  {goal['goal']}  ({shown})")
