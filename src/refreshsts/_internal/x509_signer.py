"""IAM Roles Anywhere's proof: a certificate, its chain and its private key, and the signature.

CreateSession is signed like SigV4 except for the key: the canonical request and the
credential scope are SigV4's, the "access key" in the scope is the certificate's serial
number (decimal), the certificate and its intermediates travel base64 DER in ``X-Amz-X509``
and ``X-Amz-X509-Chain``, and the signature is the private key's over the string to sign
(RSA PKCS#1 v1.5 or ECDSA in DER, both over SHA-256), in hex. This module imports
`cryptography`, so only `roles_anywhere` imports it, and only when a source is built.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass, field
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..errors import ConfigurationError

__all__ = [
    "ECDSA_ALGORITHM",
    "RSA_ALGORITHM",
    "Material",
    "bundled_chain",
    "load_certificate",
    "load_chain",
    "load_private_key",
]

RSA_ALGORITHM = "AWS4-X509-RSA-SHA256"
ECDSA_ALGORITHM = "AWS4-X509-ECDSA-SHA256"
SERVICE = "rolesanywhere"
_PROOF_CONTEXT = b"refreshsts roles anywhere key proof v1\0"
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]


def load_certificate(where: str, name: str, data: bytes) -> x509.Certificate:
    """The first certificate of PEM (or DER) `data`; ConfigurationError naming `name`."""
    try:
        if _PEM_CERTIFICATE in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ConfigurationError(
            f"{where}: {name} is not an X.509 certificate (PEM with '-----BEGIN CERTIFICATE-----', "
            "or DER)"
        ) from None


def load_chain(where: str, name: str, data: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle, in order; at least one."""
    try:
        chain = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise ConfigurationError(
            f"{where}: {name} is not a PEM bundle of certificates ('-----BEGIN CERTIFICATE-----' "
            "blocks, intermediates only)"
        ) from None
    return chain


def bundled_chain(data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates after the first in PEM `data`: a leaf's bundled intermediates."""
    if data.count(_PEM_CERTIFICATE) < 2:
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(data)[1:])
    except ValueError:
        return ()


def load_private_key(where: str, name: str, data: bytes) -> PrivateKey:
    """An RSA or EC private key from unencrypted PEM (PKCS#8, PKCS#1 or SEC 1) or DER.

    Errors name the problem, never the key's bytes.
    """
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise ConfigurationError(
            f"{where}: {name} is encrypted; IAM Roles Anywhere needs the key itself: decrypt it "
            "(openssl pkey -in KEY -out KEY.plain) into a file only this user can read"
        ) from None
    except ValueError:
        raise ConfigurationError(
            f"{where}: {name} is not a private key (PEM 'PRIVATE KEY', 'RSA PRIVATE KEY' or "
            "'EC PRIVATE KEY', or DER)"
        ) from None
    except Exception as exc:  # an unsupported algorithm, an OpenSSL refusal
        raise ConfigurationError(
            f"{where}: {name} could not be loaded ({type(exc).__name__})"
        ) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ConfigurationError(
            f"{where}: {name} is a {_kind(key)} key; IAM Roles Anywhere signs with RSA "
            f"({RSA_ALGORITHM}) or EC ({ECDSA_ALGORITHM}) keys only"
        )
    return key


@dataclass(frozen=True)
class Material:
    """A certificate, its intermediates and its private key, checked to belong together.

    `check` refuses a key that is not the certificate's, a key type Roles Anywhere does not
    sign with, and a certificate outside its validity period.
    """

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: PrivateKey = field(repr=False)

    def check(self, where: str, now: _dt.datetime) -> Material:
        """This material, when IAM Roles Anywhere could accept it at `now`."""
        public = self.certificate.public_key()
        if not isinstance(public, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            raise ConfigurationError(
                f"{where}: certificate holds a {_kind(public)} public key; IAM Roles Anywhere "
                "accepts RSA and EC certificates only"
            )
        if _spki(public) != _spki(self.key.public_key()):
            raise ConfigurationError(
                f"{where}: private_key is not the key of certificate (serial {self.serial}, "
                f"subject {self.certificate.subject.rfc4514_string()}): its public key differs; "
                "pass the key the certificate was issued for"
            )
        start = self.certificate.not_valid_before_utc
        end = self.certificate.not_valid_after_utc
        if not start <= now <= end:
            state = "not valid yet" if now < start else "expired"
            raise ConfigurationError(
                f"{where}: certificate (serial {self.serial}) is {state}: it is valid from "
                f"{start.isoformat()} to {end.isoformat()}, and it is now {now.isoformat()}"
            )
        return self

    @property
    def serial(self) -> str:
        """The certificate's serial number in decimal: the "access key" of the scope."""
        return str(self.certificate.serial_number)

    @property
    def algorithm(self) -> str:
        return RSA_ALGORITHM if isinstance(self.key, rsa.RSAPrivateKey) else ECDSA_ALGORITHM

    @property
    def not_after(self) -> _dt.datetime:
        return self.certificate.not_valid_after_utc

    @functools.cached_property
    def fingerprint(self) -> dict[str, str]:
        """What cache keys hold of the proof: digests of the certificates, and a key proof.

        The proof is an HMAC of the certificate's digest under a digest of the private key:
        only a holder of the key makes it, and it reveals nothing of the key.
        """
        certificate = hashlib.sha256(_der(self.certificate)).hexdigest()
        chain = hashlib.sha256(b"".join(_der(cert) for cert in self.chain)).hexdigest()
        secret = hashlib.sha256(
            self.key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ).digest()
        proof = hmac.new(secret, _PROOF_CONTEXT + certificate.encode(), "sha256").hexdigest()
        return {"certificate": certificate, "chain": chain, "key_proof": proof}

    def sign_request(
        self, *, url: str, region: str, body: bytes, now: _dt.datetime
    ) -> dict[str, str]:
        """The headers of a CreateSession POST of `body` to `url`, Authorization included."""
        parts = urllib.parse.urlsplit(url)
        amz_date = now.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        headers = {
            "content-type": "application/json",
            "host": _host(parts),
            "x-amz-date": amz_date,
            "x-amz-x509": _b64(self.certificate),
        }
        if self.chain:
            headers["x-amz-x509-chain"] = ",".join(_b64(cert) for cert in self.chain)
        scope = f"{amz_date[:8]}/{region}/{SERVICE}/aws4_request"
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [
                "POST",
                urllib.parse.quote(parts.path or "/", safe="/~"),
                _canonical_query(parts.query),
                "".join(f"{name}:{headers[name].strip()}\n" for name in sorted(headers)),
                signed,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        to_sign = "\n".join(
            [self.algorithm, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signature = self._sign(to_sign.encode()).hex()
        headers["authorization"] = (
            f"{self.algorithm} Credential={self.serial}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}"
        )
        return headers

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(_der(certificate)).decode("ascii")


def _spki(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _host(parts: urllib.parse.SplitResult) -> str:
    """The Host header: the URL's host, with its port unless it is the scheme's default."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _canonical_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return "&".join(
        f"{urllib.parse.quote(name, safe='-_.~')}={urllib.parse.quote(value, safe='-_.~')}"
        for name, value in sorted(pairs)
    )


def _kind(key: object) -> str:
    return type(key).__name__.lstrip("_").replace("PrivateKey", "").replace("PublicKey", "")
