"""STS operations newer than the installed botocore, added to its STS model.

refreshsts supports botocore back to 1.34, and aiobotocore pins botocore months behind
STS: AssumeRoot (2024), GetWebIdentityToken, GetDelegatedAccessToken (2025) and
GetScopedCredentials (2026) may be missing from the model botocore ships, and so may
MinimumSessionTokenSize on the older operations. The shapes in
``data/sts-2011-06-15-additions.json`` (copied from botocore 1.44.8, documentation
stripped) fill in what is missing, never replacing what botocore has.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from botocore.loaders import Loader

__all__ = ["SupplementingLoader"]


@cache
def _additions() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("data/sts-2011-06-15-additions.json").read_text()
    return dict(json.loads(text))


def supplement(model: dict[str, Any]) -> None:
    """Add to `model` (an STS service-2 model) the operations, shapes and members it lacks."""
    additions = _additions()
    for name, operation in additions["operations"].items():
        model["operations"].setdefault(name, operation)
    shapes = model["shapes"]
    for name, shape in additions["shapes"].items():
        present = shapes.setdefault(name, shape)
        if present is not shape and "members" in present and "members" in shape:
            for member, definition in shape["members"].items():
                present["members"].setdefault(member, definition)


class SupplementingLoader(Loader):  # type: ignore[misc]
    """A botocore Loader whose STS model knows the operations refreshsts's hops call."""

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        model = super().load_service_model(service_name, type_name, api_version)
        if service_name == "sts" and type_name == "service-2":
            supplement(model)
        return model
