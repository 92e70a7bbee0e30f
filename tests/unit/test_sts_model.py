"""The STS model refreshsts's clients use knows the newest operations, whatever botocore ships."""

from __future__ import annotations

import copy

from botocore.loaders import Loader

from refreshsts._internal.botocore_sessions import new_botocore_session
from refreshsts._internal.sts_model import supplement

NEWER = ("AssumeRoot", "GetWebIdentityToken", "GetDelegatedAccessToken", "GetScopedCredentials")
TOKEN_SIZED = (
    "AssumeRole",
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRoleWithWebIdentity",
    "AssumeRoleWithSAML",
)


def test_an_sts_model_without_the_newer_operations_gets_them_and_keeps_its_own():
    model = copy.deepcopy(Loader().load_service_model("sts", "service-2"))
    for name in NEWER:
        model["operations"].pop(name, None)
    for name in TOKEN_SIZED:
        model["shapes"][f"{name}Request"]["members"].pop("MinimumSessionTokenSize", None)
    own_assume_role = model["operations"]["AssumeRole"]
    supplement(model)
    assert set(NEWER) <= set(model["operations"])
    assert model["operations"]["AssumeRole"] is own_assume_role
    for name in TOKEN_SIZED:
        assert "MinimumSessionTokenSize" in model["shapes"][f"{name}Request"]["members"]
    assert "DurationSeconds" in model["shapes"]["GetSessionTokenRequest"]["members"]
    scoped = model["shapes"][model["operations"]["GetScopedCredentials"]["input"]["shape"]]
    assert {"Policy", "DurationSeconds", "ScopedSessionDescription"} <= set(scoped["members"])


def test_sts_clients_of_refreshsts_sessions_can_call_get_scoped_credentials():
    client = new_botocore_session().create_client("sts", region_name="us-east-1")
    for name in ("get_scoped_credentials", "assume_root", "get_web_identity_token"):
        assert callable(getattr(client, name))
    request = client.meta.service_model.operation_model("GetScopedCredentials")
    assert request.output_shape.serialization["resultWrapper"] == "GetScopedCredentialsResult"
