"""RolesAnywhere: IAM Roles Anywhere sessions from a loopback emulator that checks signatures.

The emulator (tests/fixtures/rolesanywhere.py) rebuilds the canonical request, verifies the
signature with the certificate's public key and the chain to its trust anchor, then hands out
either fake keys or real moto keys of an assumed role, so S3 calls are checked by moto.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import pickle
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from fixtures.drip import dripping_server
from fixtures.moto_server import MotoServer, World
from fixtures.rolesanywhere import Issued, RolesAnywhereEmulator, new_ca
from refreshsts import (
    AssumeRole,
    ConfigurationError,
    FileCache,
    MemoryCache,
    NoCache,
    RefreshableSession,
    RefreshError,
    RolesAnywhere,
)
from refreshsts._internal import x509_signer

ROLE = "arn:aws:iam::123456789012:role/app"
ANCHOR = (
    "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
)
PROFILE = (
    "arn:aws:rolesanywhere:us-east-1:123456789012:profile/1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
)


@pytest.fixture(scope="module")
def pki() -> SimpleNamespace:
    """A root CA with RSA and EC leaves, an intermediate with its own leaf, and a stranger."""
    ca = new_ca("refreshsts test root")
    intermediate = ca.issue("refreshsts test intermediate", "ec", ca=True)
    other = new_ca("someone else's root")
    return SimpleNamespace(
        ca=ca,
        rsa=ca.issue("app-rsa", "rsa"),
        ec=ca.issue("app-ec", "ec"),
        ec2=ca.issue("app-ec-2", "ec"),
        intermediate=intermediate,
        via_intermediate=intermediate.issue("app-via-intermediate", "ec"),
        other_ca=other,
        stranger=other.issue("app-stranger", "ec"),
    )


def _fake_issue(call: Any) -> dict[str, str]:
    return {
        "accessKeyId": f"ASIAFAKE{len(call.serial or '')}{time.monotonic_ns() % 10**8:08d}",
        "secretAccessKey": "fake-secret-" + "s" * 30,
        "sessionToken": "fake-session-token",
    }


@pytest.fixture
def emulator(isolated_aws, monkeypatch, pki) -> Iterator[RolesAnywhereEmulator]:
    """The emulator handing out fake keys, trusting `pki.ca`, named by the endpoint variable."""
    with RolesAnywhereEmulator(_fake_issue) as emu:
        emu.anchor = emu.add_trust_anchor(pki.ca)
        emu.profile = emu.add_profile(ROLE, accept_role_session_name=True)
        monkeypatch.setenv("AWS_ENDPOINT_URL_ROLESANYWHERE", emu.url)
        yield emu


def _files(tmp_path: Path, issued: Issued, name: str = "app") -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    key.chmod(0o600)
    return cert, key


def _source(emu: RolesAnywhereEmulator, cert: Any, key: Any, role: str = ROLE, **options: Any):
    return RolesAnywhere(cert, key, emu.anchor, emu.profile, role, **options)


# End to end against moto ----------------------------------------------------------------------


@pytest.fixture
def moto_emulator(
    aws_env, monkeypatch, moto_server: MotoServer, world: World, pki
) -> Iterator[RolesAnywhereEmulator]:
    """The emulator handing out real moto keys: the world user assumes the asked role."""
    sts = moto_server.client("sts", world.access_key_id, world.secret_access_key)

    def issue(call: Any) -> dict[str, str]:
        answer = sts.assume_role(
            RoleArn=call.params["roleArn"], RoleSessionName=f"ra-{call.serial[-20:]}"
        )
        creds = answer["Credentials"]
        return {
            "accessKeyId": creds["AccessKeyId"],
            "secretAccessKey": creds["SecretAccessKey"],
            "sessionToken": creds["SessionToken"],
            "arn": answer["AssumedRoleUser"]["Arn"],
        }

    with RolesAnywhereEmulator(issue) as emu:
        emu.anchor = emu.add_trust_anchor(pki.ca)
        emu.profile = emu.add_profile(world.role_arn)
        monkeypatch.setenv("AWS_ENDPOINT_URL_ROLESANYWHERE", emu.url)
        yield emu


@pytest.mark.parametrize(
    ("leaf", "algorithm"), [("rsa", "AWS4-X509-RSA-SHA256"), ("ec", "AWS4-X509-ECDSA-SHA256")]
)
def test_a_session_lists_the_seed_bucket_and_is_denied_a_put(
    moto_emulator, world, pki, tmp_path, leaf, algorithm
):
    cert, key = _files(tmp_path, getattr(pki, leaf))
    source = _source(moto_emulator, cert, key, world.role_arn)
    with RefreshableSession(source=source, cache=NoCache()) as session:
        s3 = session.client("s3")
        listed = s3.list_objects_v2(Bucket=world.bucket)
        assert [item["Key"] for item in listed["Contents"]] == [world.object_key]
        with pytest.raises(ClientError) as denied:
            s3.put_object(Bucket=world.bucket, Key="nope.txt", Body=b"x")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        assert session.get_credentials().get_frozen_credentials().account_id == world.account_id
    [call] = moto_emulator.accepted()
    assert call.algorithm == algorithm
    assert call.serial == getattr(pki, leaf).serial
    assert call.params == {
        "trustAnchorArn": moto_emulator.anchor,
        "profileArn": moto_emulator.profile,
        "roleArn": world.role_arn,
    }


@pytest.mark.slow  # the cross-account world costs ~4 s
def test_an_assume_role_after_it_is_role_chaining_and_reaches_another_account(
    moto_emulator, world, cross_account_chain, pki, tmp_path
):
    hub = cross_account_chain.hub_role_arn
    cert, key = _files(tmp_path, pki.ec)
    source = RolesAnywhere(cert, key, moto_emulator.anchor, moto_emulator.add_profile(hub), hub)
    target = cross_account_chain.target_role_arn
    with pytest.raises(ConfigurationError, match=r"hop 2 of 2 .*IAM Roles Anywhere hands out"):
        RefreshableSession(AssumeRole(target, duration="2h"), source=source)
    session = RefreshableSession(AssumeRole(target, duration="1h"), source=source, cache=NoCache())
    body = (
        session.client("s3")
        .get_object(Bucket=cross_account_chain.bucket, Key=cross_account_chain.object_key)["Body"]
        .read()
    )
    assert body == cross_account_chain.object_body
    assert session.get_credentials().get_frozen_credentials().account_id == (
        cross_account_chain.target_account_id
    )
    assert [status.hop for status in session.status()] == [1, 2]
    create_session = session._chain.links[0]
    assert (create_session._client, create_session._waiting_client) == (None, None), "no STS"


# What the emulator refuses, and how the library says so ----------------------------------------


def test_a_certificate_from_another_ca_is_refused_with_a_clear_refresh_error(
    emulator, pki, tmp_path
):
    cert, key = _files(tmp_path, pki.stranger)
    session = RefreshableSession(source=_source(emulator, cert, key), cache=NoCache())
    with pytest.raises(RefreshError, match=r"AccessDeniedException.*does not chain") as raised:
        session.get_credentials().get_frozen_credentials()
    assert raised.value.hop == 1
    assert "CreateSession" in raised.value.description


def test_an_intermediate_travels_in_the_chain_header(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.via_intermediate)
    without = RefreshableSession(source=_source(emulator, cert, key), cache=NoCache())
    with pytest.raises(RefreshError, match="does not chain"):
        without.get_credentials().get_frozen_credentials()
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki.intermediate.cert_pem)
    source = _source(emulator, cert, key, certificate_chain=chain)
    session = RefreshableSession(source=source, cache=NoCache())
    assert session.get_credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
    assert "x-amz-x509-chain" in emulator.accepted()[-1].headers
    bundle = tmp_path / "tls.crt"  # cert-manager's: the leaf, then its issuers
    bundle.write_bytes(pki.via_intermediate.cert_pem + pki.intermediate.cert_pem)
    session = RefreshableSession(source=_source(emulator, bundle, key), cache=NoCache())
    assert session.get_credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
    assert emulator.accepted()[-1].serial == pki.via_intermediate.serial


def test_a_tampered_signature_is_refused(emulator, pki, tmp_path, monkeypatch):
    cert, key = _files(tmp_path, pki.rsa)
    source = _source(emulator, cert, key)
    real = x509_signer.Material._sign
    monkeypatch.setattr(
        x509_signer.Material,
        "_sign",
        lambda self, data: bytes([real(self, data)[0] ^ 1]) + real(self, data)[1:],
    )
    with pytest.raises(RefreshError, match="signature does not verify"):
        RefreshableSession(
            source=source, cache=NoCache()
        ).get_credentials().get_frozen_credentials()
    assert [call.refusal for call in emulator.calls] == ["signature does not verify"]


def test_a_key_of_another_certificate_is_refused_by_the_service_too(
    emulator, pki, tmp_path, monkeypatch
):
    """The local check stops it first; without it, the service refuses the signature."""
    cert, _ = _files(tmp_path, pki.ec)
    _, other_key = _files(tmp_path, pki.ec2, "other")
    with pytest.raises(ConfigurationError, match="private_key is not the key of certificate"):
        _source(emulator, cert, other_key)
    assert emulator.calls == []
    monkeypatch.setattr(x509_signer.Material, "check", lambda self, where, now: self)
    session = RefreshableSession(source=_source(emulator, cert, other_key), cache=NoCache())
    with pytest.raises(RefreshError, match="signature does not verify"):
        session.get_credentials().get_frozen_credentials()


def test_a_skewed_clock_is_refused(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.ec)
    emulator.clock = lambda: _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(minutes=10)
    session = RefreshableSession(source=_source(emulator, cert, key), cache=NoCache())
    with pytest.raises(RefreshError, match="skewed"):
        session.get_credentials().get_frozen_credentials()


def test_a_refused_certificate_is_not_asked_again_until_the_files_change(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.stranger)
    session = RefreshableSession(source=_source(emulator, cert, key), cache=NoCache())
    for _ in range(2):
        with pytest.raises(RefreshError, match="does not chain"):
            session.get_credentials().get_frozen_credentials()
    assert len(emulator.calls) == 1, "AccessDeniedException is remembered, not asked again"
    _files(tmp_path, pki.ec)  # the right certificate lands in the same files
    assert session.get_credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
    assert [call.status for call in emulator.calls] == [403, 201]


def test_the_duration_is_its_own_else_the_sessions(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.ec)
    for own, session_wide, sent in ((None, "2h", 7200), ("max", "2h", 43200), ("20m", None, 1200)):
        source = _source(emulator, cert, key, duration=own)
        session = RefreshableSession(source=source, duration=session_wide, cache=NoCache())
        session.get_credentials().get_frozen_credentials()
        assert emulator.calls[-1].params["durationSeconds"] == sent
    assert emulator.calls[-1].duration == 1200
    assert session.status()[0].seconds_left == pytest.approx(1200, abs=5)


def test_throttling_and_server_errors_are_retried_within_one_refresh(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.ec)
    emulator.faults = [429, 503]
    source = _source(emulator, cert, key, attempts=3)
    assert source.credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
    assert [call.status for call in emulator.calls] == [429, 503, 201]
    emulator.faults = [500]
    with pytest.raises(RefreshError, match="InternalServerException"):
        _source(emulator, cert, key, attempts=1).credentials().get_frozen_credentials()


def test_the_emulator_refuses_unsigned_or_altered_requests(emulator, pki):
    """What the refusals above rest on: the emulator fails closed."""
    material = RolesAnywhere(
        pki.ec.cert_pem, pki.ec.key_pem, emulator.anchor, emulator.profile, ROLE
    )._material()
    body = json.dumps(
        {"trustAnchorArn": emulator.anchor, "profileArn": emulator.profile, "roleArn": ROLE}
    ).encode()
    url = emulator.url + "/sessions"

    def post(headers: dict[str, str], data: bytes = body) -> int:
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    now = _dt.datetime.now(_dt.timezone.utc)
    signed = material.sign_request(url=url, region="us-east-1", body=body, now=now)
    assert post(signed) == 201
    assert post({k: v for k, v in signed.items() if k != "authorization"}) == 403
    assert post(signed, body.replace(b"app", b"admin")) == 403
    assert post({**signed, "x-amz-date": "20200101T000000Z"}) == 403
    wrong_region = material.sign_request(url=url, region="eu-west-1", body=body, now=now)
    assert post(wrong_region) == 403
    refusals = [call.refusal for call in emulator.calls[1:]]
    assert refusals == [
        "unsupported algorithm ''",
        "signature does not verify",
        "Signature expired: request date is skewed",
        "credential scope does not match",
    ]


# Refresh, rotation and the cache ----------------------------------------------------------------


def test_it_refreshes_before_expiry_and_reads_a_rotated_certificate(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.ec)
    emulator.session_seconds = 900
    with time_machine.travel(time.time(), tick=True) as clock:
        session = RefreshableSession(source=_source(emulator, cert, key), cache=MemoryCache())
        first = session.get_credentials().get_frozen_credentials()
        _files(tmp_path, pki.ec2)  # cert-manager renews the certificate in place
        clock.shift(870)  # inside the mandatory window, before expiry
        second = session.get_credentials().get_frozen_credentials()
    assert second.access_key != first.access_key
    serials = [call.serial for call in emulator.accepted()]
    assert serials == [pki.ec.serial, pki.ec2.serial]


def test_files_are_read_at_every_key_but_parsed_only_when_they_change(
    emulator, pki, tmp_path, monkeypatch
):
    """Parsing an RSA key costs 0.1-0.5 s: OpenSSL checks it."""
    cert, key = _files(tmp_path, pki.rsa)
    source = _source(emulator, cert, key)
    parsed = []
    real = RolesAnywhere._parse
    monkeypatch.setattr(
        RolesAnywhere, "_parse", lambda self, *data: parsed.append(1) or real(self, *data)
    )
    hop = source.leading_hops()[0]
    first = [hop.cache_fields() for _ in range(3)]
    assert parsed == [] and first[0] == first[2]
    _files(tmp_path, pki.ec)
    assert hop.cache_fields()["certificate"] != first[0]["certificate"]
    assert parsed == [1]


def test_a_shared_cache_serves_a_second_session_and_not_another_certificate(
    emulator, pki, tmp_path
):
    cert, key = _files(tmp_path, pki.ec)
    other_cert, other_key = _files(tmp_path, pki.ec2, "other")
    for cache in (MemoryCache(), FileCache(tmp_path / "cache")):
        before = len(emulator.accepted())
        keys = [
            RefreshableSession(source=_source(emulator, c, k), cache=cache)
            .get_credentials()
            .get_frozen_credentials()
            .access_key
            for c, k in ((cert, key), (cert, key), (other_cert, other_key))
        ]
        assert keys[0] == keys[1] != keys[2]
        assert len(emulator.accepted()) - before == 2, type(cache).__name__
    again = FileCache(tmp_path / "cache")
    session = RefreshableSession(source=_source(emulator, cert, key), cache=again)
    assert session.get_credentials().get_frozen_credentials().access_key == keys[0]


def test_the_cache_key_binds_the_key_not_just_the_certificate(emulator, pki, tmp_path):
    cert, key = _files(tmp_path, pki.ec)
    source = _source(emulator, cert, key)
    fields = dict(source.leading_hops()[0].cache_fields())
    assert fields["certificate"] != fields["key_proof"]
    forged = x509_signer.Material(source._material().certificate, (), pki.ec2.key).fingerprint
    assert forged["certificate"] == fields["certificate"]
    assert forged["key_proof"] != fields["key_proof"]
    assert pki.ec.key_pem.decode().split("\n")[1] not in repr(fields)


# Validation before any call --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trust_anchor_arn": "arn:aws:iam::123456789012:role/x"}, "is not a trust-anchor ARN"),
        ({"profile_arn": ANCHOR}, "is not a profile ARN"),
        (
            {"profile_arn": PROFILE.replace("us-east-1", "eu-west-1")},
            "must be in one partition, region and account",
        ),
        ({"role_arn": "app"}, "is not a role ARN"),
        ({"region": "eu-west-1"}, "the trust anchor and profile are in 'us-east-1'"),
        ({"duration": "13h"}, r"out of range: allowed 900-43200 s"),
        ({"duration": 600}, r"out of range"),
        ({"duration": 0}, r"duration=0 is not a positive duration: allowed 900-43200 s \(15m"),
        ({"session_name": "x"}, "session_name='x' is invalid"),
        ({"endpoint_url": "rolesanywhere.local"}, "is not an http"),
        ({"timeout": 0}, "timeout=0"),
        ({"private_key": 42}, "must be a file's path .* not int"),
        ({"certificate": "/nonexistent/app.crt"}, "could not be read"),
    ],
)
def test_bad_configuration_is_refused_before_any_call(emulator, pki, tmp_path, change, message):
    cert, key = _files(tmp_path, pki.ec)
    options = {
        "certificate": cert,
        "private_key": key,
        "trust_anchor_arn": ANCHOR,
        "profile_arn": PROFILE,
        "role_arn": ROLE,
        **change,
    }
    with pytest.raises(ConfigurationError, match=message):
        RolesAnywhere(**options)
    assert emulator.calls == []


@pytest.mark.parametrize(
    ("valid_from", "state"),
    [(_dt.timedelta(days=-2), "expired"), (_dt.timedelta(hours=1), "not valid yet")],
)
def test_a_certificate_outside_its_validity_is_refused_with_its_range(pki, valid_from, state):
    leaf = pki.ca.issue("app-dated", "ec", valid_from=valid_from)
    with pytest.raises(ConfigurationError, match=rf"is {state}: it is valid from .* to .*now"):
        RolesAnywhere(leaf.cert_pem, leaf.key_pem, ANCHOR, PROFILE, ROLE)


def test_unsupported_and_encrypted_keys_are_refused(pki, tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    leaf = pki.ca.issue("app-ed", key=key)
    with pytest.raises(ConfigurationError, match=r"RSA .* or EC .* keys only"):
        RolesAnywhere(leaf.cert_pem, pem, ANCHOR, PROFILE, ROLE)
    encrypted = pki.ec.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter22"),
    )
    with pytest.raises(ConfigurationError, match="private_key is encrypted"):
        RolesAnywhere(pki.ec.cert_pem, encrypted, ANCHOR, PROFILE, ROLE)


def test_without_cryptography_the_error_names_the_extra(pki, monkeypatch):
    monkeypatch.setitem(sys.modules, "refreshsts._internal.x509_signer", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'refreshsts\[rolesanywhere\]'"):
        RolesAnywhere(pki.ec.cert_pem, pki.ec.key_pem, ANCHOR, PROFILE, ROLE)


def test_import_refreshsts_does_not_import_cryptography():
    code = "import sys, refreshsts; print(any(m.startswith('cryptography') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Endpoint, secrets, pickling -------------------------------------------------------------------


def test_the_endpoint_follows_botocore(isolated_aws, pki, monkeypatch):
    source = RolesAnywhere(pki.ec.cert_pem, pki.ec.key_pem, ANCHOR, PROFILE, ROLE)
    assert source.endpoint() == "https://rolesanywhere.us-east-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert RolesAnywhere(pki.ec.cert_pem, pki.ec.key_pem, ANCHOR, PROFILE, ROLE).endpoint() == (
        "http://127.0.0.1:1"
    )
    china = [
        arn.replace("aws:", "aws-cn:", 1).replace("us-east-1", "cn-north-1")
        for arn in (ANCHOR, PROFILE)
    ]
    source = RolesAnywhere(
        pki.ec.cert_pem,
        pki.ec.key_pem,
        *china,
        "arn:aws-cn:iam::123456789012:role/app",
        endpoint_url="https://vpce.example",
    )
    assert source.endpoint() == "https://vpce.example"
    assert source.region == "cn-north-1"


def test_secrets_stay_out_of_repr_logs_errors_and_pickles(emulator, pki, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cert, key = _files(tmp_path, pki.rsa)
    key_line = pki.rsa.key_pem.decode().split("\n")[1]
    held = _source(emulator, pki.rsa.cert_pem, pki.rsa.key_pem.decode())
    assert "<withheld>" in repr(held) and key_line not in repr(held)
    with pytest.raises(TypeError, match="holding a private key"):
        pickle.dumps(RefreshableSession(source=held, cache=NoCache()))
    session = RefreshableSession(source=_source(emulator, cert, key), cache=MemoryCache())
    frozen = session.get_credentials().get_frozen_credentials()
    blob = pickle.dumps(session)
    assert key_line.encode() not in blob and frozen.secret_key.encode() not in blob
    copy = pickle.loads(blob)
    assert (
        copy.source.leading_hops()[0].cache_fields()
        == session.source.leading_hops()[0].cache_fields()
    )
    assert copy.get_credentials().get_frozen_credentials().access_key.startswith("ASIAFAKE")
    signature = emulator.calls[0].headers["authorization"].rsplit("=", 1)[1]
    emulator.trust_anchors.clear()
    stale = RefreshableSession(source=_source(emulator, cert, key), cache=NoCache())
    with pytest.raises(RefreshError) as raised:
        stale.get_credentials().get_frozen_credentials()
    text = caplog.text + str(raised.value) + repr(session) + repr(session.source)
    for secret in (key_line, frozen.secret_key, frozen.token, signature):
        assert secret not in text


def test_key_text_that_is_no_pem_is_never_taken_for_a_path_or_quoted(emulator, pki):
    """openssl pkcs12 -nodes output starts with 'Bag Attributes'; base64 DER has no header."""
    lines = pki.ec.key_pem.decode().splitlines()
    with_bag = "Bag Attributes\n    localKeyID: 01 02 03\n" + pki.ec.key_pem.decode()
    source = _source(emulator, pki.ec.cert_pem, with_bag)
    assert lines[1] not in repr(source)
    with pytest.raises(ConfigurationError) as raised:
        _source(emulator, pki.ec.cert_pem, "".join(lines[1:-1]))
    assert lines[1][:20] not in str(raised.value)
    assert "'-----BEGIN'" in str(raised.value)


def test_a_combined_pem_given_as_certificate_never_travels_in_a_pickle(emulator, pki, tmp_path):
    _, key = _files(tmp_path, pki.ec)
    combined = pki.ec.cert_pem + pki.ec.key_pem
    session = RefreshableSession(source=_source(emulator, combined, key), cache=NoCache())
    blob = pickle.dumps(session)
    assert pki.ec.key_pem.decode().splitlines()[1].encode() not in blob
    assert pickle.loads(blob).get_credentials().get_frozen_credentials().access_key


def test_an_endpoint_dripping_its_answer_is_given_up_on(emulator, pki, tmp_path):
    """Socket timeouts bound each read; a byte every 0.2 s must not hold the refresh lock."""
    cert, key = _files(tmp_path, pki.ec)
    head = b"HTTP/1.1 201 Created\r\nContent-Length: 1000000\r\n\r\n"
    with dripping_server(head) as port:
        source = _source(
            emulator, cert, key, endpoint_url=f"http://127.0.0.1:{port}", timeout=0.5, attempts=1
        )
        started = time.monotonic()
        with pytest.raises(RefreshError, match=r"ReadTimeoutError|timed out|did not arrive"):
            RefreshableSession(
                source=source, cache=NoCache()
            ).get_credentials().get_frozen_credentials()
    assert time.monotonic() - started < 5
