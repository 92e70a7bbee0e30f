"""OnDemandRefresh and BackgroundRefresh, the shared scheduler, events and status."""

from __future__ import annotations

import gc
import os
import threading
import time

import boto3
import pytest

from fixtures.fakes import FakeSTS, fake_credentials, wait_for_child
from refreshsts import (
    AssumeRole,
    BackgroundRefresh,
    ConfigurationError,
    MemoryCache,
    OnDemandRefresh,
    RefreshableSession,
    RefreshError,
    RefreshEvent,
    TemporaryCredentials,
)
from refreshsts._internal import scheduler, worker
from refreshsts._internal.backoff import Backoff

ROLE = "arn:aws:iam::123456789012:role/reader"


def make(sts, strategy, **kwargs):
    return fake_credentials(sts, strategy=strategy, **kwargs)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wait_timeout": 0}, "wait_timeout=0 must be above 0"),
        ({"jitter": 1.5}, "jitter=1.5 must be at least 0 and below 1"),
        ({"max_jitter": -1}, "max_jitter=-1"),
    ],
)
def test_strategies_validate_their_options(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        BackgroundRefresh(**kwargs)


def test_background_refresh_is_due_before_the_advisory_window_with_jitter():
    strategy = BackgroundRefresh(jitter=0.1, max_jitter=300)
    dues = {strategy.refresh_ahead_at(1000.0, 3600) for _ in range(50)}
    assert all(1000.0 - 300 <= due <= 1000.0 for due in dues)
    assert len(dues) > 40, "jitter spreads a fleet"
    assert OnDemandRefresh().refresh_ahead_at(1000.0, 3600) is None


def test_a_session_refuses_a_non_strategy():
    with pytest.raises(ConfigurationError, match="refresh=str is not a refresh strategy"):
        RefreshableSession(
            AssumeRole(ROLE),
            source=boto3.Session(
                aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name="us-east-1"
            ),
            refresh="background",
        )  # type: ignore[arg-type]


def test_background_credentials_refresh_with_nobody_reading():
    sts = FakeSTS(3.0)
    creds = make(sts, BackgroundRefresh(jitter=0.05))
    creds.start()
    assert wait_until(lambda: sts.calls == 1), "prefetched on start"
    assert wait_until(lambda: sts.calls >= 3, timeout=6), "refreshed ahead, twice, unread"
    assert creds.credentials is not None
    assert creds.credentials.seconds_left() > creds._windows.advisory(3.0) - 0.5
    creds.close()
    calls = sts.calls
    time.sleep(2.5)
    assert sts.calls == calls, "close() stops refreshing ahead"


def test_background_refresh_failures_back_off_and_keep_credentials():
    sts = FakeSTS(4.0)
    creds = make(sts, BackgroundRefresh(jitter=0.0))
    creds.start()
    assert wait_until(lambda: creds.credentials is not None)
    sts.fail = True
    assert wait_until(lambda: creds.failure_count >= 1, timeout=5)
    assert creds.get_frozen_credentials().access_key == "AKID1"
    sts.fail = False
    assert wait_until(lambda: creds.refresh_count >= 2, timeout=5), "retried after backoff"
    creds.close()


def test_one_scheduler_thread_serves_every_background_credential():
    creds = [make(FakeSTS(60.0), BackgroundRefresh()) for _ in range(50)]
    for c in creds:
        c.start()
    assert wait_until(lambda: all(c.credentials is not None for c in creds))
    names = [t.name for t in threading.enumerate()]
    assert names.count("refreshsts-scheduler") == 1
    assert sum(name.startswith("refreshsts-refresh") for name in names) <= 4
    for c in creds:
        c.close()


def test_no_thread_or_schedule_leaks_after_1000_sessions_are_dropped():
    source = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name="us-east-1"
    )
    cache = MemoryCache()

    def new_session():
        return RefreshableSession(
            AssumeRole(ROLE, session_name="many"),
            source=source,
            cache=cache,
            refresh=BackgroundRefresh(prefetch=False),
        )

    now = time.time()
    key = new_session()._chain.cache_key(0)
    cache.set(key, TemporaryCredentials("AKID", "SECRET", "TOKEN", now + 3600, now))
    before = threading.active_count()
    for i in range(1000):
        session = new_session()
        assert session.get_credentials().get_frozen_credentials().access_key == "AKID"
        if i % 2:
            session.close()
        del session
    gc.collect()
    assert wait_until(lambda: scheduler.pending() == 0, timeout=5)
    assert threading.active_count() <= before + 5


def test_events_and_status_tell_what_happened_without_secrets():
    sts = FakeSTS(900.0)
    creds = make(sts, OnDemandRefresh())
    events: list[RefreshEvent] = []
    creds.listeners.add(events.append)
    creds.get_frozen_credentials()
    sts.fail = True
    with pytest.raises(RefreshError):
        creds.refresh()
    assert [(e.kind, e.window) for e in events] == [
        ("started", "mandatory"),
        ("succeeded", "mandatory"),
        ("started", "forced"),
        ("failed", "forced"),
    ]
    assert events[1].latency is not None and events[1].expiration is not None
    assert events[3].error == "ConnectionError: sts unreachable"
    assert "SECRET" not in repr(events) and "TOKEN" not in repr(events)
    status = creds.status()
    assert status.refresh_count == 1 and status.failure_count == 1
    assert 899 < status.seconds_left <= 900
    assert "SECRET" not in repr(status)


def test_a_listener_that_raises_does_not_break_refreshing(caplog):
    sts = FakeSTS(900.0)
    creds = make(sts, OnDemandRefresh())

    def broken(event):
        raise RuntimeError("listener bug")

    creds.listeners.add(broken)
    assert creds.get_frozen_credentials().access_key == "AKID1"
    assert "listener" in caplog.text


def test_unsubscribe():
    sts = FakeSTS(900.0)
    creds = make(sts, OnDemandRefresh())
    events: list[RefreshEvent] = []
    remove = creds.listeners.add(events.append)
    remove()
    creds.get_frozen_credentials()
    assert events == []


def test_session_is_a_context_manager_that_stops_background_refresh():
    source = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x", region_name="us-east-1"
    )
    with RefreshableSession(
        AssumeRole(ROLE), source=source, refresh=BackgroundRefresh(prefetch=False)
    ) as session:
        session.get_credentials()._schedule(time.time() + 60)
        assert scheduler.pending() >= 1
    assert session.get_credentials()._closed
    assert wait_until(lambda: scheduler.pending() == 0)


def test_a_wait_in_the_mandatory_window_is_bounded():
    gate = threading.Event()

    def hanging_sts():
        gate.wait(10)
        now = time.time()
        return TemporaryCredentials("AKID", "SECRET", "TOKEN", now + 900, now)

    creds = make(hanging_sts, OnDemandRefresh(wait_timeout=0.5))
    first = threading.Thread(target=creds.get_frozen_credentials)
    first.start()
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(RefreshError, match=r"waited 0\.5 s for another refresh"):
        creds.get_frozen_credentials()
    assert time.monotonic() - started < 1.5
    gate.set()
    first.join()
    assert creds.get_frozen_credentials().access_key == "AKID"


def test_backoff_keeps_growing_once_nothing_valid_is_left():
    backoff = Backoff()
    now = 1000.0
    delays = [backoff.next_delay(now, deadline=now - 1) for _ in range(12)]
    assert delays[0] <= 2
    assert max(delays) > 8, "a dead STS is not retried every 0.25 s forever"
    assert max(delays) <= 30, "a recovered STS is found again within 30 s"
    assert [backoff.next_delay(now, deadline=now + 100) <= 50 for _ in range(5)] == [True] * 5


def test_background_credentials_with_sts_down_do_not_hammer_it():
    sts = FakeSTS(60.0)
    sts.fail = True
    creds = make(sts, BackgroundRefresh())
    creds.start()
    time.sleep(3)
    creds.close()
    assert sts.calls <= 4, f"{sts.calls} attempts in 3 s"


def test_a_child_forked_during_a_background_refresh_keeps_refreshing():
    sts = FakeSTS(3.0)
    creds = make(sts, BackgroundRefresh(jitter=0.0))
    creds.start()
    assert wait_until(lambda: creds.credentials is not None)
    sts.gate = threading.Event()
    creds._schedule(time.time())
    assert wait_until(lambda: sts.calls == 1 and creds._refresh_lock.locked(), timeout=2)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            sts.gate = None
            before = creds.refresh_count
            time.sleep(3)
            code = 0 if creds.refresh_count > before else 3
        finally:
            os._exit(code)
    sts.gate.set()
    assert wait_for_child(pid, 20, "the forked child hung") == 0, "the child refreshed again"
    creds.close()


def test_an_advisory_refresh_at_interpreter_shutdown_keeps_the_credentials(monkeypatch):
    sts = FakeSTS(3.0)
    creds = make(sts, OnDemandRefresh())
    creds.get_frozen_credentials()
    time.sleep(2.1)

    def shut_down(task):
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(worker, "submit", shut_down)
    assert creds.get_frozen_credentials().access_key == "AKID1"
    assert not creds._refresh_lock.locked()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: OnDemandRefresh(wait_timeout="5"), "wait_timeout='5' must be a number"),
        (lambda: BackgroundRefresh(jitter=float("nan")), "jitter=nan must be a finite number"),
    ],
)
def test_strategy_options_of_the_wrong_kind_are_refused(build, message):
    with pytest.raises(ConfigurationError, match=message):
        build()
