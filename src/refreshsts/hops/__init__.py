"""Hops: the STS operations a chain is made of, one small module each."""

from ._base import Hop, default_session_name
from .assume_role import AssumeRole
from .assume_role_with_saml import AssumeRoleWithSAML
from .assume_role_with_web_identity import AssumeRoleWithWebIdentity
from .assume_root import AssumeRoot
from .get_federation_token import GetFederationToken
from .get_scoped_credentials import GetScopedCredentials
from .get_session_token import GetSessionToken

__all__ = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "GetFederationToken",
    "GetScopedCredentials",
    "GetSessionToken",
    "Hop",
    "default_session_name",
]
