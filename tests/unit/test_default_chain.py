"""credentials_before_container: what an SDK's default chain would sign with first."""

from __future__ import annotations

from pathlib import Path

import pytest

from refreshsts._internal.default_chain import credentials_before_container


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text("[hub]\naws_access_key_id = AKIAHUB\n", encoding="utf-8")
    (aws / "config").write_text("[default]\nregion = us-west-2\n[profile plain]\n")
    return {"HOME": str(tmp_path)}


def test_a_clean_chain_finds_nothing(env):
    assert credentials_before_container(env) == []
    assert credentials_before_container({**env, "AWS_PROFILE": "plain"}) == []


@pytest.mark.parametrize(
    "name",
    [
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ],
)
def test_variables_read_before_the_endpoint(env, name):
    assert credentials_before_container({**env, name: "x"}) == [f"{name} is set"]


@pytest.mark.parametrize("variable", ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_a_named_profile_with_keys(env, tmp_path, variable):
    found = credentials_before_container({**env, variable: "hub"})
    assert found == [f"profile [hub] of {tmp_path / '.aws' / 'credentials'} holds credentials"]


def test_default_profile_in_either_file(env, tmp_path):
    (tmp_path / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIA\n")
    (tmp_path / ".aws" / "config").write_text("[default]\ncredential_process = /bin/true\n")
    assert credentials_before_container(env) == [
        f"profile [default] of {tmp_path / '.aws' / 'credentials'} holds credentials",
        f"profile [default] of {tmp_path / '.aws' / 'config'} configures credentials",
    ]


def test_the_files_the_environment_names(env, tmp_path):
    other = tmp_path / "other"
    other.write_text("[default]\naws_access_key_id = AKIA\n")
    assert credentials_before_container({**env, "AWS_SHARED_CREDENTIALS_FILE": str(other)}) == [
        f"profile [default] of {other} holds credentials"
    ]
    config = tmp_path / "config"
    config.write_text("[profile hub]\nrole_arn = arn:aws:iam::123456789012:role/r\n")
    found = credentials_before_container(
        {**env, "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "hub"}
    )
    assert found[-1] == f"profile [profile hub] of {config} configures credentials"
