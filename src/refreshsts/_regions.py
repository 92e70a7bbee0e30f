"""Region names as botocore knows them: every partition in its endpoint data, none of ours.

A hard-coded pattern falls behind AWS (``eusc-de-east-1``, of the European Sovereign Cloud,
matched none of the old shapes); botocore's own data grows with botocore.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import botocore

from ._internal.botocore_sessions import shared_loader
from .errors import ConfigurationError

__all__ = ["check_region", "known_regions"]


@functools.lru_cache(maxsize=1)
def _partitions() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    """(partition id, its region pattern, its named regions), from botocore's partitions data.

    The data of the endpoint rules, which names the pseudo-regions (``aws-global``) and
    every region of the older endpoint map.
    """
    found: dict[str, tuple[set[str], set[str]]] = {}
    for partition in shared_loader().load_data("partitions").get("partitions", ()):
        patterns, regions = found.setdefault(str(partition["id"]), (set(), set()))
        if partition.get("regionRegex"):
            patterns.add(partition["regionRegex"])
        regions.update(partition.get("regions", {}))
    return tuple(
        (
            pid,
            re.compile("|".join(f"(?:{p})" for p in sorted(patterns)) or "(?!)", re.ASCII),
            frozenset(regions),
        )
        for pid, (patterns, regions) in sorted(found.items())
    )


def known_regions() -> Iterator[str]:
    """Every region botocore's data names, pseudo-regions such as ``aws-global`` included."""
    for _, _, regions in _partitions():
        yield from sorted(regions)


def check_region(value: object, *, name: str = "region") -> str:
    """`value` when a partition botocore knows has that region; else a ConfigurationError."""
    if isinstance(value, str):
        for _, pattern, regions in _partitions():
            if value in regions or pattern.fullmatch(value):
                return value
    ids = ", ".join(pid for pid, _, _ in _partitions())
    raise ConfigurationError(
        f"{name}={value!r} is not an AWS region name such as 'us-west-2': no partition botocore "
        f"{botocore.__version__} knows ({ids}) has it; a newer botocore may"
    )
