import datetime as dt

import pytest

from refreshsts import ConfigurationError, RefreshstsError, parse_duration
from refreshsts.durations import DurationLimits, format_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (900, 900),
        (dt.timedelta(hours=1), 3600),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("36h", 129600),
        ("3600", 3600),
        ("1H 30M", 5400),
        ("max", "max"),
    ],
)
def test_parses_every_accepted_form(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["", "1x", "h", "1.5h", -5, 0, True, 1.5, dt.timedelta(seconds=1.5)]
)
def test_refuses_malformed_durations_naming_the_parameter(value):
    with pytest.raises(ConfigurationError, match="duration=") as info:
        parse_duration(value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, RefreshstsError)


@pytest.mark.parametrize("value", [0, "0", "0s", -5, dt.timedelta(0)])
def test_zero_and_negative_durations_say_what_sts_accepts(value):
    with pytest.raises(ConfigurationError) as info:
        parse_duration(value)
    text = str(info.value)
    assert f"duration={value!r} is not a positive duration" in text
    assert "STS accepts 900-129600 s (15m-36h" in text
    assert "or 'max'" in text


@pytest.mark.parametrize("value", [0, "0s", -5])
def test_zero_and_negative_durations_name_the_range_given(value):
    limits = DurationLimits(60, 900, 900)
    with pytest.raises(ConfigurationError) as info:
        parse_duration(value, limits=limits)
    text = str(info.value)
    assert f"duration={value!r} is not a positive duration: allowed 60-900 s (1m-15m)" in text
    assert "129600" not in text


@pytest.mark.parametrize("value", ["\u00b2", "\u0661h", "\u0663\u0666\u0660\u0660"])
def test_only_ascii_digits_are_durations(value):
    with pytest.raises(ConfigurationError, match="is not a duration"):
        parse_duration(value)


def test_formats_like_users_write():
    assert format_duration(5400) == "1h30m"
    assert format_duration(129600) == "36h"
    assert format_duration(59) == "59s"
