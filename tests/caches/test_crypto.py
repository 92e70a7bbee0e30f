"""Keys, AES-GCM sealing and the stored envelope shared by every persistent backend."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from refreshsts import ConfigurationError
from refreshsts._internal.crypto import (
    KEY_ENV,
    NAMES_INFO,
    DecryptionError,
    Sealer,
    decode_entry,
    encode_entry,
    generate_key,
    parse_key,
    resolve_key,
)

BOUND = "ab" * 32


def test_generate_key_is_32_random_bytes_as_urlsafe_base64() -> None:
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 44
        assert len(base64.urlsafe_b64decode(key)) == 32
        assert parse_key(key) == base64.urlsafe_b64decode(key)


def test_parse_key_accepts_raw_bytes_text_bytes_and_missing_padding() -> None:
    raw = bytes(range(32))
    text = base64.urlsafe_b64encode(raw).decode()
    assert parse_key(raw) == raw
    assert parse_key(text) == raw
    assert parse_key(text.encode()) == raw
    assert parse_key(text.rstrip("=")) == raw
    assert parse_key(f"  {text}\n") == raw


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (b"\xff" * 31, "31 raw bytes"),
        ("c2hvcnQ=", "decode to 5 bytes"),
        (base64.urlsafe_b64encode(b"k" * 48).decode(), "decode to 48 bytes"),
        ("not base64 at all!" * 3, "not URL-safe base64"),
    ],
)
def test_parse_key_names_the_problem_and_never_the_key(bad: str | bytes, problem: str) -> None:
    with pytest.raises(ConfigurationError, match="usable cache key") as caught:
        parse_key(bad, source=KEY_ENV)
    message = str(caught.value)
    assert problem in message
    assert KEY_ENV in message
    assert "generate_key()" in message
    shown = bad if isinstance(bad, str) else bad.decode("latin-1")
    assert shown.strip() not in message


def test_parse_key_also_reads_standard_base64() -> None:
    raw = b"\xfb" * 32
    assert parse_key(base64.b64encode(raw).decode()) == raw


def test_parse_key_refuses_other_types() -> None:
    with pytest.raises(ConfigurationError, match="str or bytes"):
        parse_key(12345)  # type: ignore[arg-type]


def test_resolve_key_prefers_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_env, given = generate_key(), generate_key()
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert resolve_key(None) is None
    monkeypatch.setenv(KEY_ENV, from_env)
    assert resolve_key(None) == parse_key(from_env)
    assert resolve_key(given) == parse_key(given)
    monkeypatch.setenv(KEY_ENV, "  ")
    assert resolve_key(None) is None
    monkeypatch.setenv(KEY_ENV, "too-short")
    with pytest.raises(ConfigurationError, match=KEY_ENV):
        resolve_key(None)


def test_seal_and_open_roundtrip_with_a_fresh_nonce_each_time() -> None:
    sealer = Sealer(parse_key(generate_key()))
    first = sealer.seal(b"payload", BOUND)
    second = sealer.seal(b"payload", BOUND)
    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]
    assert len(base64.urlsafe_b64decode(first["nonce"])) == 12
    assert first["envelope"] == "refreshsts.aes256gcm"
    assert first["version"] == 1
    assert sealer.open(first, BOUND) == b"payload"
    assert sealer.open(second, BOUND) == b"payload"


def test_another_key_does_not_open() -> None:
    envelope = Sealer(parse_key(generate_key())).seal(b"payload", BOUND)
    with pytest.raises(DecryptionError, match="authentication failed"):
        Sealer(parse_key(generate_key())).open(envelope, BOUND)


def test_an_entry_moved_to_another_cache_key_does_not_open() -> None:
    sealer = Sealer(parse_key(generate_key()))
    envelope = sealer.seal(b"payload", BOUND)
    with pytest.raises(DecryptionError, match="authentication failed"):
        sealer.open(envelope, "cd" * 32)


def test_tampering_is_detected() -> None:
    sealer = Sealer(parse_key(generate_key()))
    envelope = sealer.seal(b"payload", BOUND)
    sealed = bytearray(base64.urlsafe_b64decode(envelope["ciphertext"]))
    sealed[0] ^= 1
    tampered = {**envelope, "ciphertext": base64.urlsafe_b64encode(bytes(sealed)).decode()}
    with pytest.raises(DecryptionError, match="authentication failed"):
        sealer.open(tampered, BOUND)


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"nonce": "***"},
        {"nonce": base64.urlsafe_b64encode(b"short").decode()},
        {"ciphertext": None},
    ],
)
def test_malformed_or_future_envelopes_are_refused(change: dict[str, object]) -> None:
    sealer = Sealer(parse_key(generate_key()))
    envelope = {**sealer.seal(b"payload", BOUND), **change}
    with pytest.raises(DecryptionError):
        sealer.open(envelope, BOUND)


def test_sealer_never_shows_or_pickles_its_key() -> None:
    key = generate_key()
    sealer = Sealer(parse_key(key))
    assert key not in repr(sealer)
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(sealer)


def test_entry_names_are_hmac_sha256_under_a_subkey_of_the_key() -> None:
    key = parse_key(generate_key())
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=NAMES_INFO).derive(key)
    name = Sealer(key).name(BOUND)
    assert name == hmac.new(subkey, BOUND.encode(), hashlib.sha256).hexdigest()
    assert name != hmac.new(key, BOUND.encode(), hashlib.sha256).hexdigest()
    assert Sealer(key).name(BOUND) == name
    assert Sealer(parse_key(generate_key())).name(BOUND) != name


def test_missing_cryptography_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'refreshsts\[encryption\]'"):
        Sealer(parse_key(generate_key()))


def test_entries_roundtrip_plain_and_sealed(credentials, key: str, secret_key: str) -> None:
    entry = credentials()
    plain = encode_entry(entry, key, None)
    assert json.loads(plain)["version"] == 1
    assert decode_entry(plain, key, None) == entry

    sealer = Sealer(parse_key(secret_key))
    sealed = encode_entry(entry, key, sealer)
    for secret in (entry.access_key_id, entry.secret_access_key, entry.session_token, entry.arn):
        assert secret is not None
        assert secret.encode() not in sealed
    assert decode_entry(sealed, key, sealer) == entry


def test_an_encrypted_cache_refuses_plaintext_and_a_plain_one_refuses_sealed(
    credentials, key: str, secret_key: str
) -> None:
    sealer = Sealer(parse_key(secret_key))
    entry = credentials()
    with pytest.raises(DecryptionError, match="not encrypted"):
        decode_entry(encode_entry(entry, key, None), key, sealer)
    with pytest.raises(DecryptionError, match="has no key"):
        decode_entry(encode_entry(entry, key, sealer), key, None)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1, 2]", b"\xff\xfe", b'{"version": 1}', b'{"version": 99}', b"x" * 70_000],
)
def test_corrupt_entries_are_value_errors(raw: bytes, key: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        decode_entry(raw, key, None)
