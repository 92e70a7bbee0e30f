"""GitHub Actions: the job's OIDC token, from the runner's token service."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from .._version import __version__
from ..errors import ConfigurationError, RefreshError
from . import _http

__all__ = ["GitHubActionsToken", "github_actions"]

URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name
DEFAULT_AUDIENCE = "sts.amazonaws.com"
_WHERE = "github_actions"
_WHAT = "GitHub Actions OIDC token service"


@dataclass(frozen=True)
class GitHubActionsToken:
    """Asks the GitHub Actions runner for a new OIDC token each time it is called.

    It holds no secret: the runner's request token is read from the environment at each
    call, so it pickles and prints safely. Made by `github_actions`.

    Args:
        audience: The token's ``aud`` claim.
        timeout: Seconds per request.
        attempts: Tries per token.
    """

    audience: str = DEFAULT_AUDIENCE
    timeout: float = 10.0
    attempts: int = 3

    def __call__(self) -> str:
        """A new token from the runner.

        Returns:
            The OIDC token (a JWT).

        Raises:
            RefreshError: The variables are gone, or the token service failed or refused.
        """
        url, request_token = _environment(RefreshError)
        joiner = "&" if "?" in url else "?"
        answer = _http.get(
            f"{url}{joiner}audience={quote(self.audience, safe='')}",
            {
                "Authorization": f"bearer {request_token}",
                "Accept": "application/json",
                "User-Agent": f"refreshsts/{__version__}",
            },
            what=_WHAT,
            secrets=(request_token,),
            timeout=self.timeout,
            attempts=self.attempts,
        )
        return _http.json_text(answer, "value", what=_WHAT, url=url)


def github_actions(
    audience: str | None = None, *, timeout: float = 10.0, attempts: int = 3
) -> GitHubActionsToken:
    """A token callable for `AssumeRoleWithWebIdentity` in a GitHub Actions job.

    Each call asks the runner's token service (``ACTIONS_ID_TOKEN_REQUEST_URL``, with the
    bearer token ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``) for a new OIDC token, as
    ``aws-actions/configure-aws-credentials`` does. GitHub sets both variables only in a
    job granted ``permissions: id-token: write``.

    Args:
        audience: The token's ``aud`` claim, which the IAM identity provider must list;
            by default ``sts.amazonaws.com``.
        timeout: Seconds per request, above 0 and at most 60.
        attempts: Tries per token (busy answers and connection failures are retried),
            1 to 10.

    Returns:
        A callable returning a new token each time it is called.

    Raises:
        ConfigurationError: Not in a job allowed to request tokens (a variable is unset),
            or a parameter is out of range.
    """
    audience = DEFAULT_AUDIENCE if audience is None else audience
    made = GitHubActionsToken(
        audience=_http.check_text(_WHERE, "audience", audience),
        timeout=_http.check_timeout(_WHERE, timeout),
        attempts=_http.check_attempts(_WHERE, attempts),
    )
    _environment(ConfigurationError)
    return made


def _environment(error: type[Exception]) -> tuple[str, str]:
    """The token service's URL and request token, or `error` saying why they are unset."""
    url, token = os.environ.get(URL_ENV), os.environ.get(TOKEN_ENV)
    if url and token:
        return url, token
    unset = [name for name, value in ((URL_ENV, url), (TOKEN_ENV, token)) if not value]
    missing = " and ".join(unset)
    raise error(
        f"{_WHERE}: {missing} unset: GitHub sets them only in an Actions job granted "
        "'permissions: id-token: write' (add it to the workflow or the job); a pull request "
        "from a fork never gets them"
    )
