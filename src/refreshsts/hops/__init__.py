"""Hops: the STS operations a chain is made of, one small module each."""

from ._base import Hop, default_session_name
from .assume_role import AssumeRole
from .get_session_token import GetSessionToken

__all__ = ["AssumeRole", "GetSessionToken", "Hop", "default_session_name"]
