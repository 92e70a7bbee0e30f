"""Errors that quote a response body are replaced by a bare stand-in of the same type."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from refreshsts import RefreshError
from refreshsts._internal.withheld import MESSAGE, calling, withheld

BODY = "<SecretAccessKey>SENTINEL-SECRET</SecretAccessKey>"


def quoting() -> ResponseParserError:
    return ResponseParserError(f"Unable to parse response, invalid XML received:\n{BODY}")


def test_an_error_that_quotes_no_body_is_kept_as_it_is() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")
    assert withheld(error) is error


def test_a_body_quoted_anywhere_in_the_chain_is_replaced_whole() -> None:
    try:
        try:
            raise quoting()
        except ResponseParserError as exc:
            raise RefreshError(f"could not load credentials: {exc}") from exc
    except RefreshError as outer:
        safe = withheld(outer)
    assert type(safe) is ResponseParserError
    assert str(safe) == MESSAGE
    assert safe.__cause__ is None and safe.__context__ is None
    assert withheld(safe) is safe, "a stand-in is never replaced again"


def test_calling_raises_the_stand_in_without_the_original_in_its_chain() -> None:
    def fails() -> None:
        raise quoting()

    with pytest.raises(ResponseParserError) as caught:
        calling(fails)
    assert BODY not in str(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert calling(lambda: 7) == 7
    with pytest.raises(KeyError):
        calling(lambda: {}["missing"])
