"""Fixtures for the ways in: token and assertion makers, metadata emulators, isolated config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.imds import ContainerEndpoint, ImdsEmulator, expiration_in
from fixtures.moto_server import CrossAccountChain, MotoServer, World, _policy
from refreshsts.hops._mfa import forget_codes

from .makers import INSTANCE_ID, fake_credentials


@pytest.fixture(autouse=True)
def _forget_mfa_codes() -> None:
    forget_codes()


@pytest.fixture
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS_* variables, an empty config and credentials file; returns the config path."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config = tmp_path / "config"
    config.write_text("")
    credentials = tmp_path / "credentials"
    credentials.write_text("")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return config


@pytest.fixture
def fake_imds(monkeypatch: pytest.MonkeyPatch) -> Iterator[ImdsEmulator]:
    """IMDSv2 on loopback serving fake keys, named by AWS_EC2_METADATA_SERVICE_ENDPOINT."""
    with ImdsEmulator(fake_credentials) as emulator:
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", emulator.url)
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
        yield emulator


@pytest.fixture
def instance_role(
    moto_server: MotoServer, world: World, cross_account_chain: CrossAccountChain
) -> dict[str, str]:
    """Real moto keys of an EC2 instance role session allowed to assume the data reader."""
    name = f"ec2-app{world.suffix}"
    with moto_server.admin():
        iam = moto_server.admin_client("iam")
        trust = _policy(
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        )
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(
            RoleName=name,
            PolicyName="assume-data-reader",
            PolicyDocument=_policy(
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": cross_account_chain.target_role_arn,
                }
            ),
        )
        creds = moto_server.client("sts").assume_role(
            RoleArn=arn, RoleSessionName=INSTANCE_ID, DurationSeconds=21600
        )["Credentials"]
    moto_server.auth_on()
    return {
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "Token": creds["SessionToken"],
        "Expiration": expiration_in(6 * 3600),
        "RoleArn": arn,
        "RoleName": name,
    }


@pytest.fixture
def moto_imds(
    monkeypatch: pytest.MonkeyPatch, instance_role: dict[str, str]
) -> Iterator[ImdsEmulator]:
    """IMDSv2 on loopback serving the instance role's real moto keys."""
    with ImdsEmulator(lambda: dict(instance_role), role_name=instance_role["RoleName"]) as emu:
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.url)
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
        yield emu


@pytest.fixture
def moto_container(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, instance_role: dict[str, str]
) -> Iterator[ContainerEndpoint]:
    """A container credentials endpoint on loopback wanting the token in a token file."""
    token = "pod-identity-token-" + os.urandom(8).hex()
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text(token)
    with ContainerEndpoint(lambda: dict(instance_role), authorization=token) as endpoint:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.full_uri)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
        yield endpoint
