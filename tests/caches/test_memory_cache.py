"""MemoryCache: entries shared in one process, bounded by maxsize."""

from __future__ import annotations

import pytest

from refreshsts import ConfigurationError
from refreshsts.caches import CredentialCache, MemoryCache


def test_roundtrip_and_protocol(credentials, key: str) -> None:
    cache = MemoryCache(maxsize=1)
    assert isinstance(cache, CredentialCache)
    entry = credentials()
    cache.set(key, entry)
    assert cache.get(key) == entry


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, "10", None, True])
def test_maxsize_must_be_a_whole_number_of_one_or_more(maxsize) -> None:
    with pytest.raises(
        ConfigurationError, match=r"maxsize=.*a whole number of 1 or more"
    ) as caught:
        MemoryCache(maxsize=maxsize)
    assert repr(maxsize) in str(caught.value)
