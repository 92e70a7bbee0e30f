"""Shared fixtures: one moto server per session, a fresh world per test, the STS proxy, env.

Any test that uses `moto_server` (directly or through `world`, `sts_proxy`, `aws_env`, ...) is
marked `integration` automatically, so `pytest -m "not integration"` skips them.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.datasets import ParquetDataset, write_parquet_dataset
from fixtures.moto_server import (
    AwsFiles,
    CrossAccountChain,
    MotoServer,
    Organization,
    World,
    build_cross_account_chain,
    build_organization,
    build_world,
    write_aws_files,
)
from fixtures.redis_server import RedisServer
from fixtures.sts_proxy import StsProxy

SERVER_FIXTURES = ("moto_server", "organization_server")
REDIS_FIXTURES = ("redis_server", "redis_url", "disposable_redis")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if any(name in names for name in SERVER_FIXTURES):
            item.add_marker(pytest.mark.integration)
        if any(name in names for name in REDIS_FIXTURES):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The session's moto server, IAM auth on (use `moto_server.admin()` to build things)."""
    server = MotoServer().start()
    try:
        server.auth_on()
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(moto_server: MotoServer) -> World:
    """A fresh seed walkthrough world (unique suffix), built with auth off; auth is on after."""
    built = build_world(moto_server, suffix=f"-{uuid.uuid4().hex[:10]}")
    moto_server.auth_on()
    return built


@pytest.fixture
def cross_account_chain(moto_server: MotoServer, world: World) -> CrossAccountChain:
    """`world`'s user -> hub (111111111111) -> data-reader (222222222222); auth on after."""
    chain = build_cross_account_chain(moto_server, world)
    moto_server.auth_on()
    return chain


@pytest.fixture
def sts_proxy(moto_server: MotoServer) -> Iterator[StsProxy]:
    """A recording, fault-injecting proxy in front of the session's moto server."""
    with StsProxy(moto_server.url) as proxy:
        yield proxy


def _isolate_aws_env(monkeypatch: pytest.MonkeyPatch, files: AwsFiles) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("BOTO_CONFIG", "MOTO_ACCOUNT_ID"):
            monkeypatch.delenv(name, raising=False)
    for name, value in files.env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_server: MotoServer, world: World
) -> AwsFiles:
    """Isolated HOME and AWS files: profile `ststestprofile` holds the world user's keys.

    Every AWS_* variable of the real environment is removed first; AWS_ENDPOINT_URL points at
    the moto server. AWS_PROFILE and AWS_DEFAULT_REGION stay unset.
    """
    files = write_aws_files(
        tmp_path / "home", world.access_key_id, world.secret_access_key, moto_server.url
    )
    _isolate_aws_env(monkeypatch, files)
    return files


@pytest.fixture
def proxied_aws_env(
    monkeypatch: pytest.MonkeyPatch, aws_env: AwsFiles, sts_proxy: StsProxy, world: World
) -> AwsFiles:
    """`aws_env` with AWS_ENDPOINT_URL pointing at `sts_proxy` instead of the server, which
    knows the world user's keys (so emulators behind it verify their signatures)."""
    sts_proxy.know(world.access_key_id, world.secret_access_key)
    env = {**aws_env.env, "AWS_ENDPOINT_URL": sts_proxy.url}
    monkeypatch.setenv("AWS_ENDPOINT_URL", sts_proxy.url)
    return dataclasses.replace(aws_env, endpoint_url=sts_proxy.url, env=env)


@pytest.fixture(scope="session")
def organization_server() -> Iterator[MotoServer]:
    """A second moto server, IAM auth on, without AWS managed policies: each account moto
    meets then costs milliseconds instead of seconds, for worlds of many accounts."""
    server = MotoServer(managed_policies=False).start()
    try:
        server.auth_on()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def organization(organization_server: MotoServer) -> Organization:
    """An organization of 13 ACTIVE accounts (the hub's and 12 members), each with role `audit`
    that the hub role may assume; built once on `organization_server` (auth on after)."""
    built = build_organization(organization_server)
    organization_server.auth_on()
    return built


@pytest.fixture
def organization_proxy(organization_server: MotoServer) -> Iterator[StsProxy]:
    """A recording, fault-injecting proxy in front of `organization_server`."""
    with StsProxy(organization_server.url) as proxy:
        yield proxy


@pytest.fixture
def organization_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    organization: Organization,
    organization_proxy: StsProxy,
) -> AwsFiles:
    """Isolated AWS files whose profile `ststestprofile` is the organization's user, with
    AWS_ENDPOINT_URL pointing at `organization_proxy` (which counts every call)."""
    user = organization.world
    organization_proxy.know(user.access_key_id, user.secret_access_key)
    files = write_aws_files(
        tmp_path / "home", user.access_key_id, user.secret_access_key, organization_proxy.url
    )
    _isolate_aws_env(monkeypatch, files)
    return files


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; `redis_url` empties it for each test."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def disposable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to kill mid-run."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def parquet_dataset(
    moto_server: MotoServer, cross_account_chain: CrossAccountChain
) -> ParquetDataset:
    """Three parquet files in the cross-account bucket (needs pyarrow); auth on after."""
    pytest.importorskip("pyarrow")
    dataset = write_parquet_dataset(moto_server, cross_account_chain)
    moto_server.auth_on()
    return dataset
