"""Refreshing credentials for data tools that hold keys themselves: one module per consumer.

Each helper imports its tool only when called; `import refreshsts.integrations` needs none.
For s3fs, pandas and Dask use `RefreshableSession.storage_options()`.
"""

from ._lease import Lease, lease
from .duckdb import DuckDBSecret, duckdb_secret
from .polars import PolarsCredentialProvider, polars_credential_provider
from .pyarrow import pyarrow_filesystem

__all__ = [
    "DuckDBSecret",
    "Lease",
    "PolarsCredentialProvider",
    "duckdb_secret",
    "lease",
    "polars_credential_provider",
    "pyarrow_filesystem",
]
