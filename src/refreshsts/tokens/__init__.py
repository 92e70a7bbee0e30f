"""Token providers: callables returning a fresh web identity token each time they are called.

Pass one as `AssumeRoleWithWebIdentity(role_arn, token=...)`: the hop asks it once per
refresh, so every STS call presents a token fetched for it. `aws_web_identity` goes the
other way: a JWT signed by STS, for services outside AWS.

```python
import refreshsts
from refreshsts import tokens

session = refreshsts.RefreshableSession(
    refreshsts.AssumeRoleWithWebIdentity(
        "arn:aws:iam::123456789012:role/ci-deploy", token=tokens.github_actions()
    )
)
```
"""

from ._aws import AwsWebIdentityToken, aws_web_identity
from ._azure import AzureManagedIdentityToken, azure_managed_identity
from ._gcp import GcpMetadataToken, gcp_metadata
from ._github import GitHubActionsToken, github_actions

__all__ = [
    "AwsWebIdentityToken",
    "AzureManagedIdentityToken",
    "GcpMetadataToken",
    "GitHubActionsToken",
    "aws_web_identity",
    "azure_managed_identity",
    "gcp_metadata",
    "github_actions",
]
