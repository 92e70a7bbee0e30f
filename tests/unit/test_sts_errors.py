"""Which STS answers a retry cannot fix."""

import pytest
from botocore.exceptions import ConnectTimeoutError

from fixtures.fakes import sts_error
from refreshsts import RefreshError
from refreshsts._internal.sts_errors import non_recoverable_code


@pytest.mark.parametrize(
    ("code", "operation"),
    [
        ("AccessDenied", "AssumeRole"),
        ("InvalidIdentityToken", "AssumeRoleWithWebIdentity"),
        ("IDPRejectedClaim", "AssumeRoleWithSAML"),
        ("MalformedPolicyDocument", "AssumeRole"),
        ("PackedPolicyTooLarge", "AssumeRole"),
        ("RegionDisabledException", "AssumeRole"),
        ("InvalidClientTokenId", "GetSessionToken"),
        ("ValidationError", "AssumeRole"),
        ("ExpiredTokenException", "AssumeRoleWithWebIdentity"),
        ("ExpiredTokenException", "AssumeRoleWithSAML"),
        ("InvalidSubjectCredentials", "GetScopedCredentials"),
    ],
)
def test_answers_to_the_request_itself_are_not_recoverable(code, operation):
    assert non_recoverable_code(sts_error(code, operation=operation)) == code


@pytest.mark.parametrize(
    "error",
    [
        sts_error("Throttling"),
        sts_error("IDPCommunicationError", operation="AssumeRoleWithWebIdentity"),
        sts_error("InternalFailure", status=500),
        sts_error("AccessDenied", status=503),  # a server fault whatever the code says
        sts_error("ServiceUnavailable", status=503),
        # a signer's expired session token: refreshing the hop before fixes it
        sts_error("ExpiredToken", operation="AssumeRole"),
        sts_error("ExpiredTokenException", operation="AssumeRole"),
        sts_error(
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider",
            operation="AssumeRoleWithWebIdentity",
        ),
        # the caller's session is about to end: refreshing the hop before fixes it
        sts_error("InsufficientSessionLifetime", operation="GetScopedCredentials"),
        ConnectTimeoutError(endpoint_url="https://sts.amazonaws.com"),
        ConnectionError("reset"),
    ],
)
def test_transient_answers_keep_the_backoff(error):
    assert non_recoverable_code(error) is None


def test_a_wrapped_refusal_is_found_through_its_cause():
    outer = RefreshError("could not load the source")
    outer.__cause__ = sts_error("AccessDenied")
    assert non_recoverable_code(outer) == "AccessDenied"
    assert non_recoverable_code(RefreshError("no cause")) is None
    assert non_recoverable_code(None) is None
