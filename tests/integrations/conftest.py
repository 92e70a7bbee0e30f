"""The consumer tests share one cross-account session with 12-s credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import refreshsts
from fixtures.datasets import cross_account_hops
from fixtures.moto_server import PROFILE, REGION
from fixtures.sts_proxy import StsProxy


@pytest.fixture
def pipeline_session(
    cross_account_chain, proxied_aws_env, sts_proxy: StsProxy
) -> Iterator[refreshsts.RefreshableSession]:
    """hub -> data-reader (ExternalId) with 12-s credentials, no cache."""
    sts_proxy.expiration_seconds = 12
    with refreshsts.RefreshableSession(
        *cross_account_hops(cross_account_chain),
        source=PROFILE,
        region=REGION,
        cache=refreshsts.NoCache(),
    ) as session:
        yield session
