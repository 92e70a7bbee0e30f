"""The one check of an endpoint URL a user passes: http(s), a host, no whitespace."""

from __future__ import annotations

import re

__all__ = ["is_http_url"]

_HTTP_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


def is_http_url(value: object) -> bool:
    """True for text such as ``https://sts.eu-west-1.amazonaws.com`` or ``http://127.0.0.1:5000/``."""
    return isinstance(value, str) and _HTTP_URL.fullmatch(value) is not None
