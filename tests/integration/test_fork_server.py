"""Forked children against the moto server: no lock a parent thread held hangs them, and none
talks to STS (or S3) on a socket the parent pooled."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import refreshsts.caches
from fixtures.fakes import fork_child, held_by_another_thread, wait_for_child
from refreshsts import (
    AssumeRole,
    BackgroundRefresh,
    MemoryCache,
    NoCache,
    RefreshableSession,
)
from refreshsts._internal import botocore_sessions, flights, scheduler, worker

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

PROFILE = "ststestprofile"
CHILDREN = 4


def session_on(world, **options: Any) -> RefreshableSession:
    return RefreshableSession(
        AssumeRole(world.role_arn, session_name="forked"),
        source=PROFILE,
        region="us-west-2",
        **options,
    )


LOCKS: dict[str, Callable[[RefreshableSession], Any]] = {
    "session client lock": lambda s: s._client_lock,
    "link STS client lock": lambda s: s._chain.links[0]._lock,
    "source lock": lambda s: s.source._lock,
    "refresh lock": lambda s: s.get_credentials()._refresh_lock,
    "backoff lock": lambda s: s.get_credentials()._backoff._lock,
    "listeners lock": lambda s: s._listeners._lock,
    "memory cache guard": lambda s: s._chain.final._cache._guard,
    "memory cache entry lock": lambda s: next(iter(s._chain.final._cache._locks.values())),
    "in-process refresh sharing": lambda s: flights._lock,
    "botocore loader lock": lambda s: botocore_sessions._loader_lock,
    "default cache lock": lambda s: refreshsts.caches._default_lock,
    "scheduler": lambda s: scheduler._cond,
    "refresh pool": lambda s: worker._lock,
}


def refresh_every_way(world, session: RefreshableSession) -> None:
    """In the child: every path that takes one of LOCKS, each ending in an STS or S3 call."""
    creds = session.get_credentials()
    before = creds.get_frozen_credentials().access_key
    creds.refresh()
    assert creds.get_frozen_credentials().access_key != before, "a new AssumeRole answer"
    creds._backoff.next_delay(time.time(), time.time() + 60)
    session.add_listener(lambda event: None)
    session.client("sts").get_caller_identity()
    ran = threading.Event()
    worker.submit(ran.set)
    assert ran.wait(10), "the refresh pool ran nothing"
    other = session_on(world, refresh=BackgroundRefresh(), cache=None)
    other.client("s3").list_objects_v2(Bucket=world.bucket)


@pytest.mark.parametrize("lock", list(LOCKS))
def test_a_child_refreshes_whatever_lock_a_parent_thread_held_at_fork(
    world, proxied_aws_env, sts_proxy, lock
):
    session = session_on(world, cache=MemoryCache())
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    with held_by_another_thread(LOCKS[lock](session)):
        pid = fork_child(lambda: refresh_every_way(world, session))
    code = wait_for_child(pid, 30, f"the forked child hung on the {lock} held in the parent")
    assert code == 0, "the child's refreshes failed (see its traceback above)"


def test_a_child_forked_while_a_parent_thread_waits_on_sts_refreshes_on_its_own(
    world, proxied_aws_env, sts_proxy
):
    session = session_on(world, cache=MemoryCache())
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    sts_proxy.inject(("delay", 5.0))
    creds = session.get_credentials()
    mid_request = threading.Thread(target=creds.refresh)
    mid_request.start()
    deadline = time.monotonic() + 5
    while sts_proxy.pending_faults() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    pid = fork_child(creds.refresh)
    assert wait_for_child(pid, 20, "the child waited for its parent's refresh") == 0
    assert time.monotonic() - started < 4, "the child waited out the parent's STS call"
    mid_request.join(10)
    assert sts_proxy.calls("AssumeRole") == 3


def test_forked_children_never_share_the_parents_sockets_nor_read_each_others_answers(
    world, proxied_aws_env, sts_proxy
):
    session = session_on(world, cache=NoCache())
    s3 = session.client("s3")
    s3.list_objects_v2(Bucket=world.bucket)
    parent_ports = {record.client_port for record in sts_proxy.requests}
    sts_proxy.clear()
    read_end, write_end = os.pipe()
    start = time.time() + 0.5

    def child() -> None:
        time.sleep(max(0.0, start - time.time()))  # all children at once, on one moment
        creds = session.get_credentials()
        creds.refresh()
        s3.list_objects_v2(Bucket=world.bucket)
        os.write(write_end, f"{creds.get_frozen_credentials().access_key}\n".encode())

    pids = [fork_child(child) for _ in range(CHILDREN)]
    for pid in pids:
        assert wait_for_child(pid, 40, "a forked child hung on a shared socket") == 0
    os.close(write_end)
    with os.fdopen(read_end) as answers:
        keys = answers.read().split()
    requests = sts_proxy.requests
    ports = [record.client_port for record in requests]
    assert sts_proxy.calls("AssumeRole") == CHILDREN
    assert len(requests) == 2 * CHILDREN, "one AssumeRole and one ListObjectsV2 per child"
    assert not parent_ports & set(ports), "a child sent a request on its parent's socket"
    assert len(set(ports)) == len(ports), "two requests of different children shared a socket"
    assert len(set(keys)) == CHILDREN, "each child got its own AssumeRole answer"
    assert set(keys) <= set(sts_proxy.issued)
    s3.list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.requests[-1].client_port in parent_ports, "the parent's socket still works"
