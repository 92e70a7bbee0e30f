"""What the hops handing out a role session share: AssumeRole and the federated ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, SupportsIndex

from botocore.exceptions import ClientError

from .._temporary import TemporaryCredentials
from ..durations import DurationLimits
from . import _tokens
from ._base import Hop
from ._session_policy import SessionPolicy

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "CHAINED_MAX",
    "FEDERATED_ROLE_LIMITS",
    "ROLE_SESSION_MAX",
    "FederatedRoleHop",
    "RoleSessionHop",
]

ROLE_SESSION_MAX = 43200
"""A role session lasts at most 12 h, and at most the role's MaxSessionDuration."""
CHAINED_MAX = 3600
"""AWS caps chained role sessions at 1 h, and every role's MaxSessionDuration allows 1 h."""

_NOTE = (
    "a role session lasts at most 12h, and at most the role's MaxSessionDuration; only session "
    "tokens (GetSessionToken, GetFederationToken) may last longer"
)
FEDERATED_ROLE_LIMITS = DurationLimits(900, ROLE_SESSION_MAX, 3600, _NOTE)
"""AssumeRoleWithWebIdentity and AssumeRoleWithSAML: never chained, since they sign nothing."""


class RoleSessionHop(SessionPolicy, Hop):
    """A hop whose credentials are a role session, so an AssumeRole after it is chaining."""

    returns_role_session: ClassVar[bool] = True
    chains_assume_role: ClassVar[bool] = True
    response_arn_key: ClassVar[str | None] = "AssumedRoleUser"

    def step_down(self, error: ClientError, requested: int, *, chained: bool) -> int | None:
        """1 h when STS finds `requested` over the role's MaxSessionDuration or chaining cap."""
        err = error.response.get("Error", {})
        if err.get("Code") != "ValidationError" or requested <= CHAINED_MAX:
            return None
        message = str(err.get("Message", ""))
        if "MaxSessionDuration" in message or "chaining" in message:
            return CHAINED_MAX
        return None


class FederatedRoleHop(RoleSessionHop):
    """A role session for an identity provider's token: AssumeRoleWithWebIdentity or WithSAML.

    The token is the proof, so the request is unsigned and the hop must come first. The
    token is read when a refresh makes its cache keys and held, unsent, for the other keys
    and the STS call of the same refresh, so a callable is asked once per refresh. Keys hold
    a digest of the whole token, never the token: a cached entry serves only a caller
    presenting the token it was fetched with, and a new token costs one STS call.
    """

    unsigned: ClassVar[bool] = True
    """Sent without a signature: the STS client needs no credentials."""
    token_parameter: ClassVar[str]
    """The request parameter the token goes in, e.g. ``"WebIdentityToken"``."""
    picklable_instead: ClassVar[str]
    """What to pass instead of fixed text for the hop to pickle."""
    proof_kind: ClassVar[str]
    """What the token is (``"jwt"``, ``"saml"``), for its digest in cache keys."""

    _token: _tokens.Reader

    def limits(self, *, chained: bool) -> DurationLimits:
        return FEDERATED_ROLE_LIMITS

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """Call STS with the held token, or one read now.

        A token STS refused on the parameters alone (a ValidationError, such as a duration
        over the role's maximum) is held again for the shorter retry that follows.
        """
        params = self.request(duration=duration)
        token = self._token.read_for_call()
        try:
            return self._send(client, {**params, self.token_parameter: token})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationError":
                self._token.hold(token)
            raise

    def cache_fields(self) -> Mapping[str, Any]:
        token = self._token.read_for_key()
        return {**super().cache_fields(), "Token": _tokens.token_digest(self.proof_kind, token)}

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        if self._token.fixed:
            raise TypeError(
                f"{self._token.where}: a hop holding its {self._token.name} as fixed text is "
                f"not picklable, since the pickle would carry the {self._token.name}: "
                f"{self.picklable_instead}"
            )
        return super().__reduce_ex__(protocol)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        """A copy holding no token read for this one, whether or not it pickles."""
        return dataclasses.replace(self)  # type: ignore[type-var]
