"""The shared fixtures work against a real moto server with IAM auth on."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from fixtures.moto_server import AwsFiles, CrossAccountChain, MotoServer, Organization, World
from fixtures.sts_proxy import Request, StsProxy, format_iso8601
from refreshsts._internal.botocore_sessions import new_botocore_session

pytestmark = pytest.mark.integration

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def _user_client(
    server: MotoServer, world: World, service: str, endpoint_url: str | None = None
) -> Any:
    return server.client(
        service,
        world.access_key_id,
        world.secret_access_key,
        endpoint_url=endpoint_url,
        config=NO_RETRIES,
    )


def _client_from(
    server: MotoServer, credentials: dict[str, Any], service: str, endpoint_url: str | None = None
) -> Any:
    return server.client(
        service,
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
        endpoint_url=endpoint_url,
        config=NO_RETRIES,
    )


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


# The seed walkthrough, auth on --------------------------------------------------------------


def test_user_assumes_role_and_reads_bucket_but_cannot_write(
    moto_server: MotoServer, world: World
) -> None:
    sts = _user_client(moto_server, world, "sts")
    assert sts.get_caller_identity()["Arn"] == world.user_arn
    assert world.user_arn == f"arn:aws:iam::123456789012:user/{world.user_name}"

    credentials = sts.assume_role(RoleArn=world.role_arn, RoleSessionName="walkthrough")[
        "Credentials"
    ]
    s3 = _client_from(moto_server, credentials, "s3")
    listed = s3.list_objects_v2(Bucket=world.bucket)["Contents"]
    assert [entry["Key"] for entry in listed] == [world.object_key]
    body = s3.get_object(Bucket=world.bucket, Key=world.object_key)["Body"].read()
    assert body == world.object_body

    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=world.bucket, Key="new.txt", Body=b"nope")
    assert _error_code(denied) == "AccessDenied"

    identity = _client_from(moto_server, credentials, "sts").get_caller_identity()
    assert identity["Arn"] == (
        f"arn:aws:sts::123456789012:assumed-role/{world.role_name}/walkthrough"
    )


def test_auth_is_really_on(moto_server: MotoServer, world: World) -> None:
    with pytest.raises(ClientError) as unknown_key:
        moto_server.client("sts", config=NO_RETRIES).get_caller_identity()
    assert _error_code(unknown_key) == "InvalidClientTokenId"

    with pytest.raises(ClientError) as not_allowed:
        _user_client(moto_server, world, "s3").list_objects_v2(Bucket=world.bucket)
    assert _error_code(not_allowed) == "AccessDenied"

    with moto_server.admin():
        moto_server.client("sts", config=NO_RETRIES).get_caller_identity()
    with pytest.raises(ClientError):
        moto_server.client("sts", config=NO_RETRIES).get_caller_identity()


def test_aws_env_profile_reaches_server(aws_env: AwsFiles, world: World) -> None:
    assert aws_env.home.is_dir()
    assert "[profile ststestprofile]" in aws_env.config_file.read_text()
    session = boto3.session.Session(profile_name="ststestprofile")
    assert session.region_name == "us-west-2"
    assert session.client("sts").get_caller_identity()["Arn"] == world.user_arn


# The proxy ------------------------------------------------------------------------------------


def test_proxy_records_action_signer_and_status(
    moto_server: MotoServer, world: World, sts_proxy: StsProxy
) -> None:
    before = time.time()
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    credentials = sts.assume_role(RoleArn=world.role_arn, RoleSessionName="recorded")["Credentials"]
    s3 = _client_from(moto_server, credentials, "s3", sts_proxy.url)
    assert s3.get_object(Bucket=world.bucket, Key=world.object_key)["Body"].read() == (
        world.object_body
    )
    s3.head_object(Bucket=world.bucket, Key=world.object_key)

    assert sts_proxy.calls("AssumeRole") == 1
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id]
    (assume,) = sts_proxy.records("AssumeRole")
    assert assume.status == 200
    assert assume.service == "sts"
    assert before <= assume.time <= time.time()
    get = f"GET /{world.bucket}/{world.object_key}"
    assert sts_proxy.signers(get) == [credentials["AccessKeyId"]]
    assert sts_proxy.calls(f"HEAD /{world.bucket}/{world.object_key}") == 1
    assert sts_proxy.records(get)[0].session_token == credentials["SessionToken"]
    assert sts_proxy.issued[credentials["AccessKeyId"]] == pytest.approx(
        credentials["Expiration"].timestamp(), abs=1
    )

    sts_proxy.clear()
    assert sts_proxy.requests == []


def test_proxy_rewrites_expiration(
    moto_server: MotoServer, world: World, sts_proxy: StsProxy
) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    sts_proxy.expiration_seconds = 120
    fresh = sts.assume_role(RoleArn=world.role_arn, RoleSessionName="short")["Credentials"]
    assert fresh["Expiration"].timestamp() == pytest.approx(time.time() + 120, abs=2)
    assert fresh["Expiration"].microsecond == 0
    assert sts_proxy.issued[fresh["AccessKeyId"]] == fresh["Expiration"].timestamp()

    sts_proxy.expiration_seconds = -10
    stale = sts.assume_role(RoleArn=world.role_arn, RoleSessionName="stale")["Credentials"]
    assert stale["Expiration"] < datetime.now(timezone.utc)
    _client_from(moto_server, fresh, "sts", sts_proxy.url).get_caller_identity()
    assert sts_proxy.expired_signings() == []
    # Moto never expires anything: the call succeeds, and the proxy reports it.
    _client_from(moto_server, stale, "sts", sts_proxy.url).get_caller_identity()
    (late,) = sts_proxy.expired_signings()
    assert (late.action, late.access_key_id) == ("GetCallerIdentity", stale["AccessKeyId"])


def test_throttle_fault_then_recovery(
    moto_server: MotoServer, world: World, sts_proxy: StsProxy
) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    sts_proxy.inject(("throttle",))
    sts.get_caller_identity()  # another action: not consumed
    with pytest.raises(ClientError) as throttled:
        sts.assume_role(RoleArn=world.role_arn, RoleSessionName="tt")
    assert _error_code(throttled) == "Throttling"
    assert throttled.value.response["Error"]["Message"] == "Rate exceeded"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sts.assume_role(RoleArn=world.role_arn, RoleSessionName="tt")
    assert [(r.status, r.fault) for r in sts_proxy.records("AssumeRole")] == [
        (400, "throttle"),
        (200, None),
    ]


def test_status_and_error_faults(
    moto_server: MotoServer, world: World, sts_proxy: StsProxy
) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    too_long = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    sts_proxy.inject(("status", 500), ("error", "ValidationError", too_long, 400))
    with pytest.raises(ClientError) as failed:
        sts.assume_role(RoleArn=world.role_arn, RoleSessionName="ss")
    assert _error_code(failed) == "InternalFailure"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(ClientError) as invalid:
        sts.assume_role(RoleArn=world.role_arn, RoleSessionName="ss", DurationSeconds=43200)
    assert _error_code(invalid) == "ValidationError"
    assert invalid.value.response["Error"]["Message"] == too_long
    assert sts_proxy.pending_faults() == 0


def test_reset_fault_is_a_connection_error(
    moto_server: MotoServer, world: World, sts_proxy: StsProxy
) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    sts.get_caller_identity()  # open a keep-alive connection first
    sts_proxy.inject("reset")
    with pytest.raises(ConnectionClosedError):
        sts.assume_role(RoleArn=world.role_arn, RoleSessionName="rr")
    sts.assume_role(RoleArn=world.role_arn, RoleSessionName="rr")
    statuses = [(r.status, r.fault) for r in sts_proxy.records("AssumeRole")]
    assert statuses == [(None, "reset"), (200, None)]


def test_delay_faults(moto_server: MotoServer, world: World, sts_proxy: StsProxy) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    sts_proxy.inject(("delay", 0.3))
    started = time.monotonic()
    sts.assume_role(RoleArn=world.role_arn, RoleSessionName="dd")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    sts.assume_role(RoleArn=world.role_arn, RoleSessionName="dd")
    assert time.monotonic() - started < 0.25

    sts_proxy.set_delay(0.2, action="GetCallerIdentity")
    started = time.monotonic()
    sts.get_caller_identity()
    sts.get_caller_identity()
    assert time.monotonic() - started >= 0.4
    assert [r.fault for r in sts_proxy.records("AssumeRole")] == ["delay", None]


def test_fail_all_until_heal(moto_server: MotoServer, world: World, sts_proxy: StsProxy) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    sts_proxy.fail_all(("status", 503))
    for _ in range(3):
        with pytest.raises(ClientError) as unavailable:
            sts.assume_role(RoleArn=world.role_arn, RoleSessionName="ff")
        assert _error_code(unavailable) == "ServiceUnavailable"
    sts_proxy.heal()
    sts.assume_role(RoleArn=world.role_arn, RoleSessionName="ff")
    assert [r.status for r in sts_proxy.records("AssumeRole")] == [503, 503, 503, 200]


def test_fail_all_with_params_fails_only_matching_requests(
    moto_server: MotoServer, world: World, sts_proxy: StsProxy
) -> None:
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    other = "arn:aws:iam::123456789012:role/not-this-one"
    sts_proxy.fail_all(("error", "AccessDenied", "no", 403), params={"RoleArn": world.role_arn})
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=world.role_arn, RoleSessionName="ff")
    assert _error_code(refused) == "AccessDenied"
    with pytest.raises(ClientError) as passed_on:  # forwarded: moto itself refuses this one
        sts.assume_role(RoleArn=other, RoleSessionName="ff")
    assert _error_code(passed_on) == "AccessDenied"
    assert [r.fault for r in sts_proxy.records("AssumeRole")] == ["error", None]
    sts_proxy.heal()
    sts.assume_role(RoleArn=world.role_arn, RoleSessionName="ff")


# Organization ---------------------------------------------------------------------------------


def test_organization_accounts_each_have_the_role(
    organization_server: MotoServer, organization: Organization
) -> None:
    assert len(organization.account_ids) == 13
    assert organization.account_ids[0] == "111111111111"
    with organization_server.admin():
        for account_id in organization.account_ids:
            iam = organization_server.admin_client("iam", account_id)
            assert iam.get_role(RoleName="audit")["Role"]["Arn"] == organization.role_arn(
                account_id
            )


# Cross-account chain --------------------------------------------------------------------------


def test_cross_account_chain(
    moto_server: MotoServer,
    world: World,
    cross_account_chain: CrossAccountChain,
    sts_proxy: StsProxy,
) -> None:
    chain = cross_account_chain
    sts = _user_client(moto_server, world, "sts", sts_proxy.url)
    hub = sts.assume_role(RoleArn=chain.hub_role_arn, RoleSessionName="hop1")["Credentials"]
    hub_sts = _client_from(moto_server, hub, "sts", sts_proxy.url)
    assert hub_sts.get_caller_identity()["Arn"] == (
        f"arn:aws:sts::111111111111:assumed-role/{chain.hub_role_name}/hop1"
    )
    target = hub_sts.assume_role(RoleArn=chain.target_role_arn, RoleSessionName="hop2")[
        "Credentials"
    ]
    target_identity = _client_from(moto_server, target, "sts", sts_proxy.url).get_caller_identity()
    assert target_identity["Account"] == "222222222222"
    assert target_identity["Arn"] == (
        f"arn:aws:sts::222222222222:assumed-role/{chain.target_role_name}/hop2"
    )
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id, hub["AccessKeyId"]]

    s3 = _client_from(moto_server, target, "s3", sts_proxy.url)
    body = s3.get_object(Bucket=chain.bucket, Key=chain.object_key)["Body"].read()
    assert body == chain.object_body
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=chain.bucket, Key="x", Body=b"x")
    assert _error_code(denied) == "AccessDenied"
    with pytest.raises(ClientError) as not_hub:
        hub_sts.assume_role(RoleArn=world.role_arn, RoleSessionName="hop2")
    assert _error_code(not_hub) == "AccessDenied"


def test_the_proxy_answers_an_operation_moto_lacks_and_rewrites_its_expiration(
    proxied_aws_env, sts_proxy
):
    seen: list[Request] = []

    def scoped(request: Request) -> tuple[int, bytes]:
        seen.append(request)
        expires = format_iso8601(time.time() + 3600)
        return 200, (
            "<GetScopedCredentialsResponse><GetScopedCredentialsResult><Credentials>"
            "<AccessKeyId>ASIASCOPED</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
            f"<SessionToken>t</SessionToken><Expiration>{expires}</Expiration>"
            "</Credentials></GetScopedCredentialsResult></GetScopedCredentialsResponse>"
        ).encode()

    sts_proxy.expiration_seconds = 60
    sts_proxy.answer("GetScopedCredentials", scoped)
    sts = new_botocore_session(profile="ststestprofile").create_client(
        "sts", region_name="us-east-1"
    )
    response = sts.get_scoped_credentials(DurationSeconds=900)
    left = response["Credentials"]["Expiration"].timestamp() - time.time()
    assert response["Credentials"]["AccessKeyId"] == "ASIASCOPED"
    assert 50 < left <= 61
    assert seen[0].params["DurationSeconds"] == "900"
    assert seen[0].access_key_id is not None
    assert sts_proxy.calls("GetScopedCredentials") == 1
