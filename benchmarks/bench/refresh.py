"""Refresh under load: requests blocked by a refresh, and AssumeRole calls for 32 threads."""

from __future__ import annotations

import functools
import gc
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import boto3
from botocore.credentials import RefreshableCredentials

from fixtures.moto_server import (
    REGION,
)
from fixtures.sts_proxy import StsProxy
from refreshsts import (
    BackgroundRefresh,
    NoCache,
    OnDemandRefresh,
    RefreshEvent,
    RefreshWindows,
)

from .harness import BOTOCORE_PROFILE, Bench, mark, print_goals, print_table

HAMMER_THREADS = 8
HAMMER_SECONDS = 15.0
HAMMER_PAUSE = 0.02  # s between one thread's requests
HAMMER_LIFETIME = 12  # s: the proxy rewrites Expiration to floor(now + this)
STS_DELAY = 2.0  # s added to every AssumeRole during the 15 s runs
BLOCKED_S = 1.5  # a request that waited on STS takes at least STS_DELAY; the rest is margin
ROUND_THREADS = 32
ROUNDS = 10
ROUND_LIFETIME = 3  # s
ROUND_LATE = 0.1  # s past the advisory point when a round's 32 threads are released
ROUND_LEAD = 0.4  # s before that when the 32 threads are started (they wait on a barrier)
BOTOCORE_PROFILE_B = "botocore-role-b"  # AssumeRole signed by a second key of the same user
SOURCE_PROFILE_B = "bench-source-b"
WINDOWS = RefreshWindows()  # what a RefreshableSession sizes its windows with by default
GOAL_BLOCKED = 0
GOAL_ROUND_CALLS = ROUNDS


# -- 5. refresh under load: 8 threads for 15 s; 32 threads through 10 refreshes --------------

Windows = tuple[float, float, float, float]
"""(expiration epoch, advisory s, mandatory s, margin s) of the credentials in hand."""


class Side:
    """One contender in the refresh runs: credentials, an S3 client, and how to read its windows
    without triggering a refresh."""

    def __init__(
        self,
        name: str,
        creds: Any,
        s3: Any,
        *,
        windows: Callable[[], Windows | None],
        wait: Callable[[float], bool],
        close: Callable[[], None] = lambda: None,
        events: list[tuple[float, RefreshEvent]] | None = None,
        note: str = "",
    ) -> None:
        self.name = name
        self.creds = creds
        self.s3 = s3
        self.windows = windows
        self.wait = wait
        self.close = close
        self.events = events
        self.note = note

    def access_key(self) -> str | None:
        frozen = self.creds._frozen_credentials  # both sides keep it; reading it never refreshes
        return None if frozen is None else str(frozen.access_key)


def refreshsts_windows(creds: Any) -> Windows | None:
    current = creds.credentials
    if current is None:
        return None
    life = max(current.lifetime, 1.0)
    return (
        current.expiration,
        WINDOWS.advisory(life),
        WINDOWS.mandatory(life),
        WINDOWS.margin(life),
    )


def botocore_windows(creds: Any) -> Windows | None:
    expiry = creds._expiry_time
    if expiry is None:
        return None
    advisory = float(creds._advisory_refresh_timeout)
    return expiry.timestamp(), advisory, float(creds._mandatory_refresh_timeout), 0.0


def wait_on_lock(lock: Any, timeout: float) -> bool:
    if not lock.acquire(timeout=timeout):
        return False
    lock.release()
    return True


def refreshsts_side(bench: Bench, name: str, strategy: Any) -> Side:
    session = bench.refreshsts_session(cache=NoCache(), refresh=strategy)
    events: list[tuple[float, RefreshEvent]] = []
    session.add_listener(lambda event: events.append((time.time(), event)))
    creds = session.get_credentials()
    return Side(
        name,
        creds,
        session.client("s3"),
        windows=functools.partial(refreshsts_windows, creds),
        wait=creds.wait_for_refresh,
        close=session.close,
        events=events,
        note=f"RefreshableSession(AssumeRole, cache=NoCache(), refresh={strategy!r})",
    )


def botocore_side(profile: str, lifetime: float) -> Side:
    """A `role_arn` profile session, its refresh windows scaled the way refreshsts sizes them."""
    session = boto3.Session(profile_name=profile)
    creds = session.get_credentials()  # the object every client of this session signs with
    if not isinstance(creds, RefreshableCredentials):
        raise TypeError(f"{profile}: expected refreshable credentials, got {type(creds).__name__}")
    fetcher = getattr(creds._refresh_using, "__self__", None)
    defaults = (creds._advisory_refresh_timeout, creds._mandatory_refresh_timeout)
    creds._advisory_refresh_timeout = WINDOWS.advisory(lifetime)
    creds._mandatory_refresh_timeout = WINDOWS.mandatory(lifetime)
    note = (
        f"boto3.Session(profile_name={profile!r}).get_credentials() -> {type(creds).__name__} "
        f"(refresh_using={type(fetcher).__name__}.{creds._refresh_using.__name__}); on that "
        f"instance set _advisory_refresh_timeout = {creds._advisory_refresh_timeout:g} s "
        f"(default {defaults[0]:g}) and _mandatory_refresh_timeout = "
        f"{creds._mandatory_refresh_timeout:g} s (default {defaults[1]:g}), i.e. "
        f"RefreshWindows().advisory({lifetime:g}) / .mandatory({lifetime:g}); the fetcher's own "
        f"cache window (_expiry_window_seconds = {getattr(fetcher, '_expiry_window_seconds', '?')} "
        "s) is left alone, so its in-memory cache never serves these short-lived credentials "
        "and every refresh is an AssumeRole call"
    )
    return Side(
        "botocore",
        creds,
        session.client("s3"),
        windows=functools.partial(botocore_windows, creds),
        wait=functools.partial(wait_on_lock, creds._refresh_lock),
        note=note,
    )


def window_name(left: float, state: Windows) -> str:
    _, advisory, mandatory, margin = state
    if left >= advisory:
        return "before the advisory window"
    if left >= mandatory:
        return "advisory window"
    if left >= margin:
        return "mandatory window"
    return "past the usable point" if left >= 0 else "expired"


Sample = tuple[int, float, float, Windows | None]
"""(thread, started at (epoch), seconds taken, windows of the credentials in hand at the start)."""


def hammer(side: Side, bucket: str) -> tuple[list[Sample], list[str]]:
    """HAMMER_THREADS threads calling S3 for HAMMER_SECONDS, as tests/integration does."""
    samples: list[Sample] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + HAMMER_SECONDS

    def work(index: int) -> None:
        while time.monotonic() < deadline:
            state = side.windows()
            began = time.time()
            started = time.perf_counter()
            try:
                side.s3.list_objects_v2(Bucket=bucket)
            except Exception as exc:  # counted and shown, never fatal
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            took = time.perf_counter() - started
            with lock:
                samples.append((index, began, took, state))
            time.sleep(HAMMER_PAUSE)

    workers = [
        threading.Thread(target=work, args=(index,), name=f"bench-s3-{index}")
        for index in range(HAMMER_THREADS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return samples, errors


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


def hammer_run(bench: Bench, make: Callable[[], Side]) -> dict[str, Any]:
    """One strategy under the 15 s load: first fetch undelayed, then STS delayed 2 s."""
    proxy, bucket = bench.proxy, bench.world.bucket
    proxy.set_delay(0, action="AssumeRole")
    proxy.clear()  # forgets issued keys too, so expired_signings() below is this side's alone
    side = make()
    try:
        side.s3.list_objects_v2(Bucket=bucket)  # the first fetch, outside the run
        proxy.set_delay(STS_DELAY, action="AssumeRole")
        gc.collect()  # a full collection owed by setup lands before the run, not in one side's
        begin = time.time()
        samples, errors = hammer(side, bucket)
        end = time.time()
        side.wait(STS_DELAY * 5)  # a refresh under way lands before anything is counted
    finally:
        proxy.set_delay(0, action="AssumeRole")
        side.close()
    calls = [r for r in proxy.records("AssumeRole") if begin <= r.time <= end]
    expired = proxy.expired_signings()
    seconds = [took for _, _, took, _ in samples]
    states = [state for _, _, _, state in samples if state is not None]
    events = side.events or []

    blocked = []
    for index, began, took, state in sorted(
        (s for s in samples if s[2] >= BLOCKED_S), key=lambda s: s[1]
    ):
        left = None if state is None else state[0] - began
        blocked.append(
            {
                "thread": index,
                "at_s": began - begin,
                "took_s": took,
                "seconds_left_at_start": left,
                "window_at_start": "no credentials yet"
                if state is None or left is None
                else window_name(left, state),
                "advisory_s": None if state is None else state[1],
                "mandatory_s": None if state is None else state[2],
                "refresh_events": [
                    f"{e.kind} ({e.window}) at +{t - begin:.2f} s"
                    + ("" if e.latency is None else f", fetch {e.latency:.2f} s")
                    for t, e in events
                    if began - 2 * STS_DELAY <= t <= began + took
                ],
            }
        )
    refreshes = len(calls)
    return {
        "setup": side.note,
        "threads": HAMMER_THREADS,
        "seconds": end - begin,
        "requests": len(samples),
        "errors": len(errors),
        "error_examples": errors[:3],
        "blocked": len(blocked),
        "blocked_per_refresh": len(blocked) / refreshes if refreshes else None,
        "blocked_requests": blocked,
        "p50_ms": statistics.median(seconds) * 1e3 if seconds else float("nan"),
        "p99_ms": percentile(seconds, 0.99) * 1e3,
        "max_ms": max(seconds, default=float("nan")) * 1e3,
        "assume_role_calls": refreshes,
        "expired_signings": len(expired),
        "expired_examples": [
            f"{r.action} signed by {r.access_key_id} at +{r.time - begin:.2f} s"
            for r in expired[:3]
        ],
        "advisory_s": [min(s[1] for s in states), max(s[1] for s in states)] if states else None,
        "mandatory_s": [min(s[2] for s in states), max(s[2] for s in states)] if states else None,
        "refresh_events": [
            {"at_s": t - begin, "kind": e.kind, "window": e.window, "latency_s": e.latency}
            for t, e in events
        ],
        "latencies_ms": [round(t * 1e3, 2) for t in seconds],
    }


def signed_calls(proxy: StsProxy, signer: str) -> int:
    return sum(1 for r in proxy.records("AssumeRole") if r.access_key_id == signer)


def refresh_rounds(side: Side, proxy: StsProxy, signer: str) -> dict[str, Any]:
    """ROUNDS rounds: ROUND_THREADS threads read get_frozen_credentials() together just past
    the advisory point, then the refresh is waited for; AssumeRole calls signed by `signer`."""
    side.creds.get_frozen_credentials()  # the first fetch, not counted
    baseline = previous = signed_calls(proxy, signer)
    rounds: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    for _ in range(ROUNDS):
        state = side.windows()
        assert state is not None
        expiration, advisory, mandatory, _ = state
        release = min(expiration - advisory + ROUND_LATE, expiration - (advisory + mandatory) / 2)
        before = side.access_key()
        barrier = threading.Barrier(ROUND_THREADS + 1)
        reads: list[tuple[float, bool]] = []

        def read(
            barrier: threading.Barrier = barrier,
            before: str | None = before,
            reads: list[tuple[float, bool]] = reads,
        ) -> None:
            try:
                barrier.wait(timeout=30)
                started = time.perf_counter()
                key = side.creds.get_frozen_credentials().access_key
                took = time.perf_counter() - started
                with lock:
                    reads.append((took, key != before))
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

        time.sleep(max(0.0, release - ROUND_LEAD - time.time()))
        threads = [threading.Thread(target=read) for _ in range(ROUND_THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, release - time.time()))
        released = time.time()
        barrier.wait(timeout=30)
        for thread in threads:
            thread.join()
        refreshed_in_time = side.wait(10.0)
        now = signed_calls(proxy, signer)
        rounds.append(
            {
                "calls": now - previous,
                "refreshed": side.access_key() != before,
                "waited_ok": refreshed_in_time,
                "released_s_before_expiry": expiration - released,
                "advisory_s": advisory,
                "mandatory_s": mandatory,
                "slowest_read_ms": max((t for t, _ in reads), default=float("nan")) * 1e3,
                "reads_with_new_key": sum(1 for _, new in reads if new),
            }
        )
        previous = now
    return {
        "setup": side.note,
        "assume_role_calls": previous - baseline,
        "rounds": rounds,
        "rounds_without_refresh": sum(1 for r in rounds if not r["refreshed"]),
        "slowest_read_ms": max(r["slowest_read_ms"] for r in rounds),
        "errors": errors[:3],
        "error_count": len(errors),
    }


def add_second_source(bench: Bench) -> str:
    """A second access key of the world user and a botocore `role_arn` profile on it, so the
    proxy can tell botocore's AssumeRole calls from refreshsts's when both run at once."""
    with bench.server.admin():
        key = bench.server.admin_client("iam").create_access_key(UserName=bench.world.user_name)[
            "AccessKey"
        ]
    files = bench.files
    with files.credentials_file.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n[{SOURCE_PROFILE_B}]\naws_access_key_id = {key['AccessKeyId']}\n"
            f"aws_secret_access_key = {key['SecretAccessKey']}\n"
        )
    files.add_config(
        f"[profile {SOURCE_PROFILE_B}]\nregion = {REGION}\n\n"
        f"[profile {BOTOCORE_PROFILE_B}]\n"
        f"role_arn = {bench.world.role_arn}\n"
        f"source_profile = {SOURCE_PROFILE_B}\n"
        "role_session_name = bench-b\n"
        f"region = {REGION}\n"
    )
    return str(key["AccessKeyId"])


def bench_rounds(bench: Bench) -> dict[str, Any]:
    """32 threads through 10 refreshes, refreshsts and botocore at the same time."""
    proxy = bench.proxy
    botocore_signer = add_second_source(bench)
    proxy.set_delay(0, action="AssumeRole")
    proxy.clear()
    sides = [
        (refreshsts_side(bench, "refreshsts", OnDemandRefresh()), bench.world.access_key_id),
        (botocore_side(BOTOCORE_PROFILE_B, ROUND_LIFETIME), botocore_signer),
    ]
    results: dict[str, Any] = {}

    def drive(side: Side, signer: str) -> None:
        try:
            results[side.name] = refresh_rounds(side, proxy, signer)
        except Exception as exc:
            results[side.name] = {"failed": f"{type(exc).__name__}: {exc}"}
        finally:
            side.close()

    drivers = [threading.Thread(target=drive, args=side) for side in sides]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join()
    return results


def bench_refresh(bench: Bench) -> dict[str, Any]:
    started = time.perf_counter()
    proxy = bench.proxy
    makers: dict[str, Callable[[], Side]] = {
        "on_demand": lambda: refreshsts_side(bench, "on_demand", OnDemandRefresh()),
        "background": lambda: refreshsts_side(bench, "background", BackgroundRefresh()),
        "botocore": lambda: botocore_side(BOTOCORE_PROFILE, HAMMER_LIFETIME),
    }
    runs: dict[str, Any] = {}
    try:
        proxy.expiration_seconds = HAMMER_LIFETIME
        for name, make in makers.items():
            runs[name] = hammer_run(bench, make)
        proxy.expiration_seconds = ROUND_LIFETIME
        rounds = bench_rounds(bench)
    finally:
        proxy.expiration_seconds = None
        proxy.set_delay(0, action="AssumeRole")
    return {
        "load": runs,
        "rounds": rounds,
        "config": {
            "threads": HAMMER_THREADS,
            "seconds": HAMMER_SECONDS,
            "pause_s": HAMMER_PAUSE,
            "lifetime_s": HAMMER_LIFETIME,
            "sts_delay_s": STS_DELAY,
            "blocked_s": BLOCKED_S,
            "round_threads": ROUND_THREADS,
            "rounds": ROUNDS,
            "round_lifetime_s": ROUND_LIFETIME,
            "round_released_s_past_advisory": ROUND_LATE,
        },
        "seconds": time.perf_counter() - started,
    }


def report_refresh(refresh: dict[str, Any]) -> list[dict[str, Any]]:
    load, rounds = refresh["load"], refresh["rounds"]
    od, bg, bc = load["on_demand"], load["background"], load["botocore"]
    rs_rounds, bc_rounds = rounds.get("refreshsts", {}), rounds.get("botocore", {})

    def clean(run: dict[str, Any]) -> bool:
        return (
            run["blocked"] == GOAL_BLOCKED and run["assume_role_calls"] >= 1 and not run["errors"]
        )

    def trio(key: str, fmt: str = "{}") -> tuple[str, str, str]:
        return tuple(fmt.format(run[key]) for run in (bc, od, bg))  # type: ignore[return-value]

    def per_refresh(run: dict[str, Any]) -> str:
        value = run["blocked_per_refresh"]
        return "-" if value is None else f"{value:.2f}"

    rs_calls = rs_rounds.get("assume_role_calls")
    bc_calls = bc_rounds.get("assume_role_calls")
    rows: list[tuple[str, ...]] = [
        (
            f"requests blocked by a refresh (>= {BLOCKED_S:g} s)",
            *trio("blocked"),
            "0 (bc: ~1/refresh)",
            mark(clean(od) and clean(bg)),
        ),
        ("  AssumeRole calls during the run", *trio("assume_role_calls"), "", ""),
        ("  blocked per refresh", per_refresh(bc), per_refresh(od), per_refresh(bg), "", ""),
        (
            "  requests (errors)",
            *(f"{r['requests']} ({r['errors']})" for r in (bc, od, bg)),
            "",
            "",
        ),
        ("  latency p50, ms", *trio("p50_ms", "{:.1f}"), "", ""),
        ("  latency p99, ms", *trio("p99_ms", "{:.1f}"), "", ""),
        ("  latency max, ms", *trio("max_ms", "{:.0f}"), "< 1500", mark(clean(od) and clean(bg))),
        (
            "  requests signed with an expired key",
            *trio("expired_signings"),
            "0",
            mark(od["expired_signings"] == 0 and bg["expired_signings"] == 0),
        ),
        (
            f"AssumeRole calls, {ROUND_THREADS} threads x {ROUNDS} refreshes",
            "-" if bc_calls is None else str(bc_calls),
            "-" if rs_calls is None else str(rs_calls),
            "",
            f"{GOAL_ROUND_CALLS}",
            mark(rs_calls == GOAL_ROUND_CALLS),
        ),
        (
            f"  slowest of {ROUND_THREADS} reads in a round, ms",
            f"{bc_rounds.get('slowest_read_ms', float('nan')):.1f}",
            f"{rs_rounds.get('slowest_read_ms', float('nan')):.1f}",
            "",
            "",
            "",
        ),
    ]
    header = ("measure", "botocore", "rs on-demand", "rs background", "goal", "")
    print_table(rows, header)
    config = refresh["config"]
    print(
        f"load runs (one after another): credentials live {config['lifetime_s']} s (the proxy "
        f"rewrites Expiration to floor(now + {config['lifetime_s']})), AssumeRole delayed "
        f"{config['sts_delay_s']:g} s, {config['threads']} threads x list_objects_v2 with a "
        f"{config['pause_s'] * 1e3:.0f} ms pause for {config['seconds']:g} s after an undelayed "
        f"first fetch; blocked = took >= {config['blocked_s']:g} s (a request that waited on STS "
        f"takes >= {config['sts_delay_s']:g} s)"
    )
    print(f"  botocore: {bc['setup']}")
    for label, run in (("on-demand", od), ("background", bg)):
        if run["advisory_s"]:
            (a0, a1), (m0, m1) = run["advisory_s"], run["mandatory_s"]
            print(
                f"  refreshsts {label}: windows sized per credential from its lifetime (issue "
                f"to expiry, STS wait included): advisory {a0:.2f}-{a1:.2f} s, mandatory "
                f"{m0:.2f}-{m1:.2f} s before expiry; refreshes: "
                + (
                    ", ".join(
                        f"{e['window']} at +{e['at_s']:.1f} s ({e['latency_s']:.2f} s)"
                        for e in run["refresh_events"]
                        if e["kind"] == "succeeded" and e["at_s"] >= 0
                    )
                    or "none"
                )
            )
    for label, run in (
        ("botocore", bc),
        ("refreshsts on-demand", od),
        ("refreshsts background", bg),
    ):
        for item in run["blocked_requests"][:4]:
            left = item["seconds_left_at_start"]
            print(
                f"  {label} blocked: thread {item['thread']} at +{item['at_s']:.2f} s took "
                f"{item['took_s']:.2f} s; credentials in hand had "
                + ("none" if left is None else f"{left:.2f} s left ({item['window_at_start']}")
                + (
                    ""
                    if left is None
                    else f", advisory {item['advisory_s']:.2f} s / mandatory "
                    f"{item['mandatory_s']:.2f} s)"
                )
                + (
                    f"; events: {'; '.join(item['refresh_events'])}"
                    if item["refresh_events"]
                    else ""
                )
            )
        if len(run["blocked_requests"]) > 4:
            print(f"  {label}: {len(run['blocked_requests']) - 4} more blocked (see --json)")
        if run["errors"]:
            print(f"  {label}: {run['errors']} request(s) failed: {run['error_examples'][0]}")
        if run["expired_signings"]:
            print(f"  {label}: expired signings: {'; '.join(run['expired_examples'])}")
        if not run["assume_role_calls"]:
            print(f"  {label}: no refresh happened during the run; the run shows nothing")
    print(
        f"{ROUND_THREADS}-thread run: credentials live ~{config['round_lifetime_s']} s "
        f"(floor(now + {config['round_lifetime_s']}), so 2-3 s), no STS delay; each of "
        f"{ROUNDS} rounds releases {ROUND_THREADS} threads together "
        f"{config['round_released_s_past_advisory']:g} s past the advisory point, then waits "
        "for the refresh; refreshsts (OnDemandRefresh, NoCache) and botocore run at the same "
        "time, their AssumeRole calls told apart by the signing key (botocore's source profile "
        f"is a second access key of the same user); first fetches not counted"
    )
    if "setup" in bc_rounds:
        print(f"  botocore: {bc_rounds['setup']}")
    for label, result in (("refreshsts", rs_rounds), ("botocore", bc_rounds)):
        if "failed" in result:
            print(f"  {label}: the run failed: {result['failed']}")
            continue
        per_round = [r["calls"] for r in result["rounds"]]
        print(
            f"  {label}: calls per round {per_round}; rounds without a refresh "
            f"{result['rounds_without_refresh']}; released "
            + ", ".join(f"{r['released_s_before_expiry']:.2f}" for r in result["rounds"])
            + " s before expiry"
            + (
                f"; {result['error_count']} read(s) failed: {result['errors'][0]}"
                if result["errors"]
                else ""
            )
        )
    print(f"refresh section: {refresh['seconds']:.1f} s")

    goals: list[dict[str, Any]] = [
        {
            "goal": f"no request blocked by a refresh, OnDemandRefresh ({HAMMER_LIFETIME} s "
            f"credentials, STS {STS_DELAY:g} s, {HAMMER_THREADS} threads, {HAMMER_SECONDS:g} s)",
            "value": od["blocked"],
            "botocore": bc["blocked"],
            "refreshes": od["assume_role_calls"],
            "pass": clean(od),
        },
        {
            "goal": "no request blocked by a refresh, BackgroundRefresh (same run)",
            "value": bg["blocked"],
            "botocore": bc["blocked"],
            "refreshes": bg["assume_role_calls"],
            "pass": clean(bg),
        },
        {
            "goal": "no request signed with an expired key (both refreshsts strategies)",
            "value": od["expired_signings"] + bg["expired_signings"],
            "pass": od["expired_signings"] + bg["expired_signings"] == 0,
        },
        {
            "goal": f"AssumeRole calls for {ROUND_THREADS} threads through {ROUNDS} refreshes "
            f"== {GOAL_ROUND_CALLS}",
            "value": rs_calls,
            "botocore": bc_calls,
            "pass": rs_calls == GOAL_ROUND_CALLS,
        },
    ]
    print_goals(goals)
    return goals
