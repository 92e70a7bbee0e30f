"""Instance metadata and container credentials in a forked child, on loopback emulators."""

from __future__ import annotations

import os

import pytest

from fixtures.fakes import fork_child, held_by_another_thread, wait_for_child
from fixtures.imds import ContainerEndpoint
from refreshsts import ContainerCredentials, InstanceMetadata
from refreshsts.sources import EndpointSource, resolve_source

from .makers import fake_credentials

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def child_fetches_afresh(source: EndpointSource, requests) -> None:
    """A parent thread holds the source's locks at fork; the child fetches on a new socket."""
    source.credentials().get_frozen_credentials()
    parent = requests()
    with held_by_another_thread(source._lock, source._creds_lock):
        pid = fork_child(lambda: source.credentials().get_frozen_credentials())
    assert wait_for_child(pid, 15, "the child hung on a source lock held in the parent") == 0
    child = requests()[len(parent) :]
    assert len(child) == len(parent), "the child fetched for itself, as the parent did"
    assert not {r.client_port for r in parent} & {r.client_port for r in child}, (
        "the child used a connection its parent had pooled"
    )


def test_container_credentials_in_a_forked_child(isolated_aws):
    with ContainerEndpoint(fake_credentials, authorization="task-token") as endpoint:
        source = ContainerCredentials(full_uri=endpoint.full_uri, authorization_token="task-token")
        child_fetches_afresh(source, lambda: endpoint.requests)


def test_instance_metadata_in_a_forked_child(isolated_aws, fake_imds):
    child_fetches_afresh(InstanceMetadata(), lambda: fake_imds.requests)


def test_the_default_chain_on_a_container_role_in_a_forked_child(isolated_aws, monkeypatch):
    with ContainerEndpoint(fake_credentials, authorization="task-token") as endpoint:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.full_uri)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-token")
        source = resolve_source(None)
        source.credentials().get_frozen_credentials()
        parent = list(endpoint.requests)
        with held_by_another_thread(source._lock):
            pid = fork_child(lambda: source.credentials().get_frozen_credentials())
        assert wait_for_child(pid, 15, "the child hung on the default chain's source") == 0
        child = endpoint.requests[len(parent) :]
        assert child, "botocore's provider in the child fetched for itself"
        assert not {r.client_port for r in parent} & {r.client_port for r in child}, (
            "the child used the keep-alive socket botocore's container provider pooled"
        )
