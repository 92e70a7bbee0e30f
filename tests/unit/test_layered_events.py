"""LayeredEmitter answers every event as one botocore emitter holding the same handlers would."""

from __future__ import annotations

import copy
import functools
import random
from typing import Any

import boto3
import pytest
from botocore.hooks import HierarchicalEmitter

import refreshsts
from refreshsts._internal.layered_events import LayeredEmitter, SharedHandlers

NAMES = [
    "before-call",
    "before-call.s3",
    "before-call.s3.ListObjects",
    "before-call.*.ListObjects",
    "before-call.sts.AssumeRole",
    "needs-retry",
    "needs-retry.s3",
    "creating-client-class",
    "creating-client-class.s3",
]
EVENTS = [
    "before-call.s3.ListObjects",
    "before-call.sts.AssumeRole",
    "before-call.ec2.ListObjects",
    "needs-retry.s3.GetObject",
    "creating-client-class.s3",
    "creating-client-class.sts",
    "unknown.event",
]


def _handler(tag: str) -> Any:
    def handler(**kwargs: Any) -> str:
        return tag

    handler.__name__ = tag
    return handler


def _register(emitter: Any, rng: random.Random, prefix: str, count: int) -> None:
    for index in range(count):
        section = rng.choice(("register", "register_first", "register_last"))
        getattr(emitter, section)(rng.choice(NAMES), _handler(f"{prefix}{index}"))


def _answers(emitter: Any) -> dict[str, list[str]]:
    return {event: [r for _, r in emitter.emit(event)] for event in EVENTS}


@pytest.mark.parametrize("seed", range(8))
def test_answers_equal_a_single_botocore_emitter(seed: int) -> None:
    rng = random.Random(seed)
    base = HierarchicalEmitter()
    _register(base, rng, "base", 30)
    flat = copy.copy(base)
    layered = LayeredEmitter(SharedHandlers(base))
    additions = random.Random(seed + 100)
    _register(flat, additions, "own", 12)
    _register(layered, random.Random(seed + 100), "own", 12)
    assert _answers(layered) == _answers(flat)


def test_copies_hold_only_their_own_additions() -> None:
    base = HierarchicalEmitter()
    base.register("before-call.s3", _handler("builtin"))
    shared = SharedHandlers(base)
    session = LayeredEmitter(shared)
    session.register("before-call", _handler("session"))
    client = copy.copy(session)
    client.register("before-call.s3", _handler("client"))
    assert _answers(client)["before-call.s3.ListObjects"] == ["builtin", "client", "session"]
    assert _answers(session)["before-call.s3.ListObjects"] == ["builtin", "session"]
    assert [r for _, r in base.emit("before-call.s3.ListObjects")] == ["builtin"]
    assert client.layered and session.layered


def test_removing_a_builtin_makes_a_private_copy_and_leaves_the_builtins_alone() -> None:
    base = HierarchicalEmitter()
    builtin = _handler("builtin")
    base.register("before-call.s3", builtin)
    base.register("before-call.s3", _handler("other"))
    session = LayeredEmitter(SharedHandlers(base))
    session.register("before-call", _handler("session"))
    session.unregister("before-call.s3", builtin)
    assert not session.layered
    assert _answers(session)["before-call.s3.ListObjects"] == ["other", "session"]
    fresh = LayeredEmitter(SharedHandlers(base))
    assert _answers(fresh)["before-call.s3.ListObjects"] == ["builtin", "other"]


def test_a_builtin_unique_id_is_not_registered_twice() -> None:
    base = HierarchicalEmitter()
    base.register("before-call.s3", _handler("builtin"), unique_id="the-one")
    session = LayeredEmitter(SharedHandlers(base))
    session.register("before-call.s3", _handler("again"), unique_id="the-one")
    assert _answers(session)["before-call.s3.ListObjects"] == ["builtin"]
    session.unregister("before-call.s3", unique_id="the-one")
    assert _answers(session)["before-call.s3.ListObjects"] == []


def _answer_locally(request: Any, **kwargs: Any) -> Any:
    """A before-send hook that answers ListBuckets without the network."""
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield b""

    body = (
        b'<?xml version="1.0"?><ListAllMyBucketsResult><Buckets/><Owner><ID>x</ID></Owner>'
        b"</ListAllMyBucketsResult>"
    )
    response = AWSResponse(request.url, 200, {}, _Raw())
    response._content = body
    return response


def _session(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> refreshsts.RefreshableSession:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    return refreshsts.RefreshableSession(
        refreshsts.AssumeRole("arn:aws:iam::222222222222:role/audit"), region="us-east-1"
    )


def test_handlers_registered_on_one_session_reach_its_clients_only(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    first, second = _session(tmp_path, monkeypatch), _session(tmp_path, monkeypatch)
    first.events.register("before-call.s3.ListBuckets", lambda **_: seen.append("first"))
    for session in (first, second):
        client = boto3.Session.client(
            session, "s3", aws_access_key_id="AKIAEXAMPLEEXAMPLE00", aws_secret_access_key="secret"
        )
        client.meta.events.register("before-send", _answer_locally)
        client.list_buckets()
    assert seen == ["first"]


def test_clients_share_their_class_and_ruleset_unless_a_session_shapes_the_class(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (_session(tmp_path, monkeypatch) for _ in range(3))

    def add_method(class_attributes: dict[str, Any], **_: Any) -> None:
        class_attributes["shaped_here"] = functools.partial(str, "shaped")

    c.events.register("creating-client-class.s3", add_method)
    s3_a, s3_b, s3_c = a.client("s3"), b.client("s3"), c.client("s3")
    assert type(s3_a) is type(s3_b)
    assert hasattr(s3_a, "upload_file")  # boto3's injected methods are in the shared class
    assert s3_a._ruleset_resolver._provider is s3_b._ruleset_resolver._provider
    assert type(s3_c) is not type(s3_a)
    assert hasattr(s3_c, "shaped_here") and not hasattr(s3_a, "shaped_here")
