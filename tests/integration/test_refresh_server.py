"""Refresh strategies under injected faults, against the moto server behind the proxy."""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
import traceback

import pytest
import time_machine
from botocore.exceptions import ClientError

from fixtures.fakes import at_once, refusals_from_threads, wait_for_child
from fixtures.sts_proxy import GARBLED_SECRET, GARBLED_TOKEN, garbled_credentials
from refreshsts import (
    AssumeRole,
    BackgroundRefresh,
    MemoryCache,
    NoCache,
    OnDemandRefresh,
    RefreshableSession,
    RefreshError,
    RefreshEvent,
)
from refreshsts._internal import sts_errors

PROFILE = "ststestprofile"


def session_for(world, **options):
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name="strategy"),
        source=PROFILE,
        region="us-west-2",
        cache=NoCache(),
        **options,
    )


def hammer(session, bucket, threads=8, seconds=15.0):
    """8 threads making S3 requests; returns every request's latency and any errors."""
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=bucket)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work():
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                s3.list_objects_v2(Bucket=bucket)
            except Exception as exc:  # reported below
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            with lock:
                latencies.append(time.perf_counter() - started)
            time.sleep(0.02)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors


@pytest.mark.slow
@pytest.mark.parametrize("strategy", [BackgroundRefresh(), OnDemandRefresh()], ids=["bg", "od"])
def test_no_request_waits_on_a_slow_sts(world, proxied_aws_env, sts_proxy, strategy):
    sts_proxy.expiration_seconds = 12
    session = session_for(world, refresh=strategy)
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    sts_proxy.set_delay(2.0, action="AssumeRole")
    latencies, errors = hammer(session, world.bucket)
    session.close()
    assert errors == []
    assert max(latencies) < 1.5, f"slowest request {max(latencies):.2f} s waited for STS"
    assert sts_proxy.calls("AssumeRole") >= 2, "credentials were refreshed during the run"
    assert sts_proxy.expired_signings() == []


def test_background_strategy_keeps_serving_while_sts_is_down(world, proxied_aws_env, sts_proxy):
    # 24 s credentials: the failed ahead attempt (botocore's retries take ~2.5 s) must end well
    # before the mandatory window (2.4 s), even when a loaded machine starts it late.
    sts_proxy.expiration_seconds = 24
    events: list[RefreshEvent] = []
    with session_for(world, refresh=BackgroundRefresh(jitter=0.05)) as session:
        s3 = session.client("s3")
        s3.list_objects_v2(Bucket=world.bucket)
        session.add_listener(events.append)
        first = session.get_credentials().get_frozen_credentials().access_key
        sts_proxy.fail_all(("error", "ServiceUnavailable", "STS is having a bad day", 503))
        deadline = time.monotonic() + 20
        while not any(e.kind == "failed" for e in events) and time.monotonic() < deadline:
            s3.list_objects_v2(Bucket=world.bucket)
            time.sleep(0.1)
        assert session.get_credentials().get_frozen_credentials().access_key == first
        assert session.status()[0].failure_count >= 1
        sts_proxy.heal()
        deadline = time.monotonic() + 8
        while session.status()[0].refresh_count < 2 and time.monotonic() < deadline:
            s3.list_objects_v2(Bucket=world.bucket)
            time.sleep(0.05)
        assert session.get_credentials().get_frozen_credentials().access_key != first
    kinds = [(e.kind, e.window) for e in events]
    assert ("failed", "ahead") in kinds
    assert kinds[-1][0] == "succeeded"
    failed = next(e for e in events if e.kind == "failed")
    assert "ServiceUnavailable" in (failed.error or "")
    assert sts_proxy.expired_signings() == []


ACCESS_DENIED = (
    "error",
    "AccessDenied",
    "User: arn:aws:iam::123456789012:user/u is not authorized to perform: sts:AssumeRole",
    403,
)


def test_50_calls_from_8_threads_on_access_denied_make_one_sts_call(
    world, proxied_aws_env, sts_proxy, monkeypatch
):
    monkeypatch.setattr(sts_errors, "NEGATIVE_CACHE_SECONDS", 4.0)
    sts_proxy.fail_all(ACCESS_DENIED)
    session = session_for(world)
    started = time.monotonic()
    errors = refusals_from_threads(
        lambda: session.get_credentials().get_frozen_credentials(), pause=0.4
    )
    assert time.monotonic() - started < 4.0, "the calls must fall within the negative cache"
    assert len(errors) == 50
    assert all("(AccessDenied)" in text and "not asked again" in text for text in errors)
    assert sts_proxy.calls("AssumeRole") == 1
    sts_proxy.heal()
    refused_at = sts_proxy.records("AssumeRole")[0].time
    time.sleep(max(0.0, refused_at + 4.2 - time.time()))
    session.get_credentials().get_frozen_credentials()
    assert sts_proxy.calls("AssumeRole") == 2, "after the negative cache STS is asked again"


def test_access_denied_ahead_of_expiry_keeps_the_credentials_in_hand(
    world, proxied_aws_env, sts_proxy
):
    sts_proxy.expiration_seconds = 12
    with session_for(world, refresh=BackgroundRefresh(jitter=0.05)) as session:
        s3 = session.client("s3")
        s3.list_objects_v2(Bucket=world.bucket)
        creds = session.get_credentials()
        first = creds.get_frozen_credentials().access_key
        expires = creds.credentials.expiration
        sts_proxy.fail_all(ACCESS_DENIED)
        while time.time() < expires - 1.0:
            s3.list_objects_v2(Bucket=world.bucket)
            assert creds.get_frozen_credentials().access_key == first
            time.sleep(0.05)
        assert sts_proxy.calls("AssumeRole") == 2, "one refusal, then no call for 30 s"
        time.sleep(max(0.0, expires - time.time()))
        with pytest.raises(RefreshError, match=r"\(AccessDenied\).*not asked again"):
            creds.get_frozen_credentials()
        assert sts_proxy.calls("AssumeRole") == 2
        assert session.status()[0].failure_count == 1


def test_expired_token_forces_one_refresh_and_one_retry(world, proxied_aws_env, sts_proxy):
    session = session_for(world)
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    first = session.get_credentials().get_frozen_credentials().access_key
    sts_proxy.inject(
        ("error", "ExpiredToken", "The provided token has expired.", 400),
        action=f"GET /{world.bucket}",
    )
    s3.list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 2
    assert session.get_credentials().get_frozen_credentials().access_key != first
    sts_proxy.inject(
        *[("error", "ExpiredToken", "The provided token has expired.", 400)] * 2,
        action=f"GET /{world.bucket}",
    )
    with pytest.raises(ClientError, match="ExpiredToken"):
        s3.list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 3, "one forced refresh per request, not a loop"


EXPIRED = ("error", "ExpiredToken", "The provided token has expired.", 400)


def test_an_expired_token_for_other_keys_leaves_the_sessions_credentials_alone(
    world, proxied_aws_env, sts_proxy
):
    session = session_for(world)
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    ours = session.get_credentials().get_frozen_credentials().access_key
    explicit = session.client(
        "s3", aws_access_key_id=world.access_key_id, aws_secret_access_key=world.secret_access_key
    )
    sts_proxy.inject(EXPIRED, action=f"GET /{world.bucket}")
    with pytest.raises(ClientError, match="ExpiredToken"):
        explicit.list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 1, "no forced refresh for keys that are not ours"
    assert session.get_credentials().get_frozen_credentials().access_key == ours


def test_a_wall_clock_set_back_does_not_hide_a_refresh_made_since_the_request(
    world, proxied_aws_env, sts_proxy
):
    session = session_for(world)
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    creds = session.get_credentials()

    def refreshed_elsewhere_as_the_clock_goes_back(**_):
        s3.meta.events.unregister(event, refreshed_elsewhere_as_the_clock_goes_back)
        traveller.shift(-3600)
        creds.refresh()

    event = "before-send.s3.ListObjectsV2"
    with time_machine.travel(time.time(), tick=True) as traveller:
        s3.meta.events.register(event, refreshed_elsewhere_as_the_clock_goes_back)
        sts_proxy.inject(EXPIRED, action=f"GET /{world.bucket}")
        s3.list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.calls("AssumeRole") == 2, "the other refresh is enough: retried at once"


def test_eight_requests_rejected_at_once_make_one_forced_refresh(world, proxied_aws_env, sts_proxy):
    session = session_for(world)
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    sts_proxy.set_delay(0.5, action="AssumeRole")
    sts_proxy.inject(*[EXPIRED] * 8, action=f"GET /{world.bucket}")
    errors = at_once(8, lambda: s3.list_objects_v2(Bucket=world.bucket))
    assert errors == []
    assert sts_proxy.calls("AssumeRole") == 2, "the first rejected caller refreshed for all"


def test_32_threads_through_10_refreshes_make_10_calls(world, proxied_aws_env, sts_proxy):
    sts_proxy.expiration_seconds = 3
    session = session_for(world)
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    for _ in range(9):
        time.sleep(2.3)
        barrier = threading.Barrier(32)

        def read(barrier=barrier):
            barrier.wait()
            session.get_credentials().get_frozen_credentials()

        threads = [threading.Thread(target=read) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        session.get_credentials().wait_for_refresh(5)
    assert sts_proxy.calls("AssumeRole") == 10


@pytest.mark.slow
def test_a_forked_child_keeps_refreshing_in_the_background(world, proxied_aws_env, sts_proxy):
    sts_proxy.expiration_seconds = 4
    session = session_for(world, refresh=BackgroundRefresh(jitter=0.05))
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            creds = session.get_credentials()
            before = creds.refresh_count
            time.sleep(6)
            code = 0 if creds.refresh_count >= before + 2 else 3
        finally:
            os._exit(code)
    code = wait_for_child(pid, 30, "the forked child hung")
    session.close()
    assert code == 0, "the child refreshed on its own scheduler"


def chain_of(error: BaseException) -> list[BaseException]:
    """`error` and every error it chains (cause or context)."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def test_an_unparsable_sts_answer_is_reported_without_its_body(
    world, proxied_aws_env, sts_proxy, caplog
):
    caplog.set_level(logging.DEBUG, logger="refreshsts")
    sts_proxy.fail_all(("raw", 200, garbled_credentials()))
    events: list[RefreshEvent] = []
    session = session_for(world)
    session.add_listener(events.append)
    with pytest.raises(RefreshError) as caught:
        session.get_credentials().get_frozen_credentials()
    error = caught.value
    chained = chain_of(error)
    assert "ResponseParserError" in [type(e).__name__ for e in chained]
    told = [
        caplog.text,
        "".join(traceback.format_exception(error)),
        *(str(e) for e in chained),
        *(repr(e) for e in chained),
        *(repr(e.args) for e in chained),
        repr(session.status()),
        repr(events),
    ]
    for text in told:
        assert GARBLED_SECRET not in text
        assert GARBLED_TOKEN not in text
    assert GARBLED_SECRET.encode() not in pickle.dumps(error)
    assert "body is withheld" in str(error)
    assert sts_proxy.calls("AssumeRole") >= 1


def test_credentials_sts_hands_out_already_expired_are_refused(world, proxied_aws_env, sts_proxy):
    sts_proxy.expiration_seconds = -30  # a clock out of step, or an answer held up
    events: list[RefreshEvent] = []
    cache = MemoryCache()
    session = RefreshableSession(
        AssumeRole(world.role_arn, session_name="late"),
        source=PROFILE,
        region="us-west-2",
        cache=cache,
    )
    session.add_listener(events.append)
    with pytest.raises(RefreshError, match=r"handed credentials that expired at .*none were used"):
        session.get_credentials().get_frozen_credentials()
    assert sts_proxy.calls("AssumeRole") == 1
    assert [event.kind for event in events] == ["started", "failed"]
    assert len(cache) == 0
