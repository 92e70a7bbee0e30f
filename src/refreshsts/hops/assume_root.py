"""AssumeRoot: a short root session in a member account, for one privileged task."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from .._temporary import TemporaryCredentials
from ..durations import DurationLike, DurationLimits
from . import _validate as check
from ._base import SHORTEST_REFRESHED, Duration, Hop, sts_params

__all__ = ["AssumeRoot"]

ROOT_SESSION_MAX = 900
"""STS hands out root sessions of at most 15 min."""
_NOTE = "AssumeRoot's root sessions last at most 15m"


@dataclass(frozen=True, eq=True)
class AssumeRoot(Hop):
    """A root session in member account `target_principal`, scoped to one task (sts:AssumeRoot).

    Sign it with credentials of the organization's management account or of the delegated
    administrator for IAM, never with root user credentials. STS answers it only on
    regional endpoints, so a session whose STS endpoint is the global ``sts.amazonaws.com``
    is refused when it is built. The root session may only do what `task_policy_arn`
    allows, and no such task calls STS, so it is the last hop.

    Args:
        target_principal: The member account, as its 12-digit ID or
            ``arn:aws:iam::ACCOUNT:root``.
        task_policy_arn: The AWS managed policy naming the task,
            ``arn:aws:iam::aws:policy/root-task/NAME``: IAMAuditRootUserCredentials,
            IAMCreateRootUserPassword, IAMDeleteRootUserCredentials, S3UnlockBucketPolicy or
            SQSUnlockQueuePolicy (other names of that shape pass, as AWS may add tasks).
        duration: How long the root session lasts, 1 to 15 min, or ``"max"``; by default
            the session's duration, else STS's default of 15 min.
        minimum_session_token_size: Bytes of session token STS should reserve, 0 to 4096,
            for callers storing the token in a fixed-size field.

    Raises:
        ConfigurationError: A parameter is malformed or out of range (before any STS call).
    """

    target_principal: str
    task_policy_arn: str
    duration: Duration = None
    minimum_session_token_size: int | None = None

    operation: ClassVar[str] = "AssumeRoot"
    regional_only: ClassVar[bool] = True
    ends_chain: ClassVar[bool] = True
    chain_end_note: ClassVar[str] = (
        "are a member account's root session, which may do only what its task policy allows "
        "and calls no STS operation"
    )

    def __init__(
        self,
        target_principal: str,
        task_policy_arn: str,
        *,
        duration: DurationLike | None = None,
        minimum_session_token_size: int | None = None,
    ) -> None:
        where = self._where(target_principal)
        self._set(
            target_principal=check.target_principal(where, target_principal),
            task_policy_arn=check.task_policy_arn(where, task_policy_arn),
            minimum_session_token_size=check.minimum_session_token_size(
                where, minimum_session_token_size
            ),
        )
        self._init_duration(where, duration)

    def limits(self, *, chained: bool) -> DurationLimits:
        return DurationLimits(SHORTEST_REFRESHED, ROOT_SESSION_MAX, ROOT_SESSION_MAX, _NOTE)

    @property
    def account_id(self) -> str:
        """The member account's 12-digit ID, whichever way `target_principal` names it."""
        return (
            self.target_principal.split(":")[4]
            if ":" in self.target_principal
            else (self.target_principal)
        )

    @property
    def label(self) -> str:
        """What the hop is, for logs, errors and events: never a secret."""
        task = self.task_policy_arn.rsplit("/", 1)[-1]
        return f"AssumeRoot {self.account_id} for {task}"

    def request(self, *, duration: int | None) -> dict[str, Any]:
        return sts_params(
            TargetPrincipal=self.target_principal,
            TaskPolicyArn={"arn": self.task_policy_arn},
            DurationSeconds=duration,
            MinimumSessionTokenSize=self.minimum_session_token_size,
        )

    def call(self, client: Any, *, duration: int | None) -> TemporaryCredentials:
        """Call STS; the keys belong to the member account, not to the signer's."""
        creds = super().call(client, duration=duration)
        return dataclasses.replace(creds, account_id=self.account_id)
