"""Which STS refusals a retry cannot fix, and how long they are remembered.

STS documents most of its error codes as the caller's fault (`senderFault`): a trust policy
that does not let the caller in, a token the identity provider signed for someone else, a
malformed session policy, a region the account has not enabled. Asking again with the same
request gets the same answer, so such an answer is remembered for `NEGATIVE_CACHE_SECONDS`
and handed to every caller meanwhile instead of STS being asked again. Throttling, server
faults (5xx), connection errors and `IDPCommunicationError` (STS: "often a transient error
... retry the request a limited number of times") keep the jittered backoff.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = ["NEGATIVE_CACHE_SECONDS", "NON_RECOVERABLE_CODES", "non_recoverable_code"]

NEGATIVE_CACHE_SECONDS = 30.0
"""How long a non-recoverable answer stands in for STS; one TOTP step, so a refused MFA code
is followed by a new one."""

NON_RECOVERABLE_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "IDPRejectedClaim",
        "InvalidAuthorizationMessageException",
        "InvalidClientTokenId",
        "InvalidIdentityToken",
        "InvalidParameterCombination",
        "InvalidParameterValue",
        "InvalidSubjectCredentials",
        "JWTPayloadSizeExceededException",
        "MalformedPolicyDocument",
        "MissingParameter",
        "PackedPolicyTooLarge",
        "RegionDisabledException",
        "SessionDurationEscalationException",
        "UnrecognizedClientException",
        "ValidationError",
    }
)
"""Answers to the request itself: the same request gets the same answer."""

TOKEN_OPERATIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
"""Unsigned operations: an expired token there is the identity provider's, not a signer's."""
_EXPIRED_TOKEN = frozenset({"ExpiredToken", "ExpiredTokenException"})
_IDP_UNREACHABLE = "retrieve verification key"
"""InvalidIdentityToken when STS could not fetch the provider's keys: the IdP's fault, and
transient (the AWS SDKs for PHP and Ruby retry it)."""


def non_recoverable_code(exc: BaseException | None) -> str | None:
    """The STS error code of `exc` (or of an error it wraps) when a retry cannot fix it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ClientError):
            return _classify(exc)
        exc = exc.__cause__ or exc.__context__
    return None


def _classify(exc: ClientError) -> str | None:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if isinstance(status, int) and status >= 500:
        return None
    if code in _EXPIRED_TOKEN:
        # Signed calls: the signer expired, which refreshing the hop before fixes.
        return code if exc.operation_name in TOKEN_OPERATIONS else None
    if code == "InvalidIdentityToken" and _IDP_UNREACHABLE in str(error.get("Message", "")):
        return None
    return code if code in NON_RECOVERABLE_CODES else None
