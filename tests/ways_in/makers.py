"""Tokens, assertions and keys the way-in tests hand to refreshsts and the emulators."""

from __future__ import annotations

import base64
import json
import os

from fixtures.imds import expiration_in

INSTANCE_ID = "i-0123456789abcdef0"


def make_jwt(
    sub: str,
    *,
    iss: str = "https://token.actions.githubusercontent.com",
    aud: str = "sts.amazonaws.com",
    nonce: str = "",
) -> str:
    """An unsigned-looking JWT (moto and refreshsts read only its claims)."""

    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {"iss": iss, "sub": sub, "aud": aud, "jti": nonce or os.urandom(6).hex()}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def make_saml(
    role_arn: str,
    principal_arn: str,
    *,
    name_id: str,
    session_name: str,
    signature: str = "c2lnbmF0dXJl",
) -> str:
    """A base64 SAMLResponse with the attributes AWS (and moto) read, and a SignatureValue."""

    def attribute(name: str, value: str) -> str:
        return (
            f'<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/{name}">'
            f"<saml:AttributeValue>{value}</saml:AttributeValue></saml:Attribute>"
        )

    xml = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">'
        "<saml:Issuer>https://idp.example.com/saml</saml:Issuer>"
        "<saml:Assertion><saml:Issuer>https://idp.example.com/saml</saml:Issuer>"
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f"<ds:SignatureValue>{signature}</ds:SignatureValue></ds:Signature>"
        f"<saml:Subject><saml:NameID>{name_id}</saml:NameID></saml:Subject>"
        "<saml:AttributeStatement>"
        f"{attribute('Role', f'{role_arn},{principal_arn}')}"
        f"{attribute('RoleSessionName', session_name)}"
        f"{attribute('SessionDuration', '3600')}"
        "</saml:AttributeStatement></saml:Assertion></samlp:Response>"
    )
    return base64.b64encode(xml.encode()).decode()


def fake_credentials(prefix: str = "ASIAFAKE") -> dict[str, str]:
    return {
        "AccessKeyId": f"{prefix}000000000001",
        "SecretAccessKey": "fake-secret-access-key",
        "Token": "fake-session-token",
        "Expiration": expiration_in(3600),
    }
