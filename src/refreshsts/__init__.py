"""refreshsts: boto3 sessions whose STS credentials refresh themselves.

```python
import refreshsts

session = refreshsts.RefreshableSession(
    refreshsts.AssumeRole("arn:aws:iam::123456789012:role/sts-s3-read-only"),
    source="ststestprofile",
)
session.client("s3").list_buckets()
```
"""

from . import tokens as tokens
from ._internal.crypto import generate_key
from ._temporary import TemporaryCredentials
from ._version import __version__
from .account_roles import AccountRoles
from .caches import (
    CredentialCache,
    FileCache,
    MemoryCache,
    NoCache,
    RedisCache,
    get_default_cache,
    set_default_cache,
)
from .container_credentials import ContainerCredentials
from .credential_process import CredentialProcess
from .credential_server import CredentialServer
from .credentials import RefreshingCredentials
from .durations import MAX, DurationLike, parse_duration
from .errors import ConfigurationError, RefreshError, RefreshstsError
from .events import HopStatus, RefreshEvent, RefreshListener
from .hops import (
    AssumeRole,
    AssumeRoleWithSAML,
    AssumeRoleWithWebIdentity,
    AssumeRoot,
    GetFederationToken,
    GetScopedCredentials,
    GetSessionToken,
    Hop,
)
from .hops._mfa import MfaToken
from .hops._session_policy import PolicyLike, TagsLike
from .hops._tokens import TokenLike
from .instance_metadata import InstanceMetadata
from .refresh import BackgroundRefresh, OnDemandRefresh, RefreshStrategy, RefreshWindows
from .roles_anywhere import RolesAnywhere
from .session import RefreshableSession
from .sources import Source, SourceLike

__all__ = [
    "MAX",
    "AccountRoles",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "AssumeRoot",
    "BackgroundRefresh",
    "ConfigurationError",
    "ContainerCredentials",
    "CredentialCache",
    "CredentialProcess",
    "CredentialServer",
    "DurationLike",
    "FileCache",
    "GetFederationToken",
    "GetScopedCredentials",
    "GetSessionToken",
    "Hop",
    "HopStatus",
    "InstanceMetadata",
    "MemoryCache",
    "MfaToken",
    "NoCache",
    "OnDemandRefresh",
    "PolicyLike",
    "RedisCache",
    "RefreshError",
    "RefreshEvent",
    "RefreshListener",
    "RefreshStrategy",
    "RefreshWindows",
    "RefreshableSession",
    "RefreshingCredentials",
    "RefreshstsError",
    "RolesAnywhere",
    "Source",
    "SourceLike",
    "TagsLike",
    "TemporaryCredentials",
    "TokenLike",
    "__version__",
    "generate_key",
    "get_default_cache",
    "parse_duration",
    "set_default_cache",
]
