"""Session policies and session tags: request parameters several hops share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Union

__all__ = ["PolicyLike", "SessionPolicy", "TagsLike", "tag_params"]

PolicyLike = Union[str, Mapping[str, Any], None]
"""A session policy: JSON text or a dict, serialized as compact JSON."""

TagsLike = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
"""Session tags: a mapping of key to value, or (key, value) pairs."""


class SessionPolicy:
    """Mixin for hops taking session policies, which narrow what the session may do.

    The hop declares and checks the `policy` and `policy_arns` fields; this sends them.
    """

    policy: str | None
    policy_arns: tuple[str, ...]

    def _policy_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.policy is not None:
            params["Policy"] = self.policy
        if self.policy_arns:
            params["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        return params


def tag_params(tags: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """Checked (key, value) pairs as the STS Tags parameter."""
    return [{"Key": key, "Value": value} for key, value in tags]
