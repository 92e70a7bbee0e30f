"""refreshsts for asyncio: aiobotocore sessions on refreshing credential chains.

Needs the `aio` extra (`pip install 'refreshsts[aio]'`); `import refreshsts` never imports it.

```python
import refreshsts
import refreshsts.aio

session = refreshsts.aio.RefreshableSession(
    refreshsts.AssumeRole("arn:aws:iam::123456789012:role/sts-s3-read-only"),
    source="ststestprofile",
)
async with session.create_client("s3") as s3:
    await s3.list_buckets()
```
"""

try:
    import aiobotocore  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("refreshsts.aio needs aiobotocore: pip install 'refreshsts[aio]'") from exc

from .credentials import AioRefreshingCredentials
from .session import RefreshableSession

__all__ = ["AioRefreshingCredentials", "RefreshableSession"]
