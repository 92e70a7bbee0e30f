import pickle
import re
import subprocess
import sys
from types import MappingProxyType

import boto3
import pytest

import refreshsts
from refreshsts import (
    AssumeRole,
    ConfigurationError,
    GetFederationToken,
    GetSessionToken,
    RefreshableSession,
)
from refreshsts._regions import check_region, known_regions
from refreshsts.hops import default_session_name

STATIC = boto3.Session(
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s3cr3t", region_name="us-east-1"
)
ARN = "arn:aws:iam::123456789012:role/sts-s3-read-only"
MFA_ARN = "arn:aws:iam::123456789012:mfa/alice"


def test_assume_role_is_immutable_and_copies_with_changes():
    hop = AssumeRole(ARN, session_name="mytestsession", duration="1h")
    with pytest.raises(AttributeError):
        hop.role_arn = "x"  # type: ignore[misc]
    longer = hop.with_duration("2h")
    assert (hop.duration, longer.duration) == (3600, 7200)
    assert longer.with_session_name("other").session_name == "other"
    assert hop.with_external_id("xyz-123").external_id == "xyz-123"
    assert pickle.loads(pickle.dumps(hop)) == hop


def test_request_carries_every_parameter():
    hop = AssumeRole(
        ARN,
        session_name="s1",
        external_id="xyz-123",
        policy={"Version": "2012-10-17", "Statement": []},
        policy_arns=["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        tags={"team": "data", "env": "prod"},
        transitive_tag_keys=["team"],
        source_identity="alice",
    )
    params = hop.request(duration=900)
    assert params["DurationSeconds"] == 900
    assert params["ExternalId"] == "xyz-123"
    assert params["Policy"] == '{"Version":"2012-10-17","Statement":[]}'
    assert params["PolicyArns"] == [{"arn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}]
    assert {"Key": "team", "Value": "data"} in params["Tags"]
    assert params["TransitiveTagKeys"] == ["team"]
    assert params["SourceIdentity"] == "alice"


def test_default_session_name_names_user_and_host_not_a_process_and_labels_show_it():
    name = default_session_name()
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", name)
    assert name.startswith("refreshsts-") and "@" in name
    another_process = subprocess.run(
        [sys.executable, "-c", "from refreshsts.hops import default_session_name as d; print(d())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert another_process.stdout.strip() == name, "a cached credential names no process"
    assert AssumeRole(ARN).request(duration=None)["RoleSessionName"] == name
    assert AssumeRole(ARN).label == f"AssumeRole {ARN} as {name}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role_arn": "arn:aws:iam::12345:role/x"}, r"role_arn=.*is not a role ARN"),
        ({"role_arn": "arn:aws:iam::123456789012:user/x"}, "is not a role ARN"),
        ({"role_arn": "not-an-arn"}, "is not a role ARN"),
        ({"session_name": "x"}, r"session_name='x' is invalid: it must be 2-64"),
        ({"session_name": "a" * 65}, "2-64 characters"),
        ({"session_name": "has space"}, "session_name="),
        ({"external_id": "x"}, "external_id of 1 characters is invalid: it must be 2-1224"),
        ({"external_id": "x" * 1225}, "2-1224"),
        ({"external_id": "bad id!"}, "external_id"),
        ({"policy": "{" + " " * 2100 + "}"}, "policy is 2102 characters; STS allows at most 2048"),
        ({"policy": "not json"}, "policy is not valid JSON"),
        ({"policy_arns": ["arn:aws:iam::aws:role/x"]}, "not a managed policy ARN"),
        ({"policy_arns": [f"arn:aws:iam::aws:policy/p{i}" for i in range(11)]}, "at most 10"),
        ({"tags": {"aws:x": "y"}}, "reserved prefix"),
        ({"tags": {f"k{i}": "v" for i in range(51)}}, "at most 50"),
        ({"tags": {"a": "b"}, "transitive_tag_keys": ["c"]}, "not one of this hop's tags"),
        ({"source_identity": "x"}, "source_identity"),
        ({"duration": 899}, r"duration=899 s \(14m59s\) is out of range: allowed 900-43200 s"),
        ({"duration": "13h"}, "out of range: allowed 900-43200 s"),
        ({"duration": "1y"}, "is not a duration"),
        ({"duration": 0}, r"duration=0 is not a positive duration: allowed 900-43200 s \(15m"),
        ({"role_arn": "arn:aws:iam::123456789012:role/r\u00f4le"}, "is not a role ARN"),
        ({"role_arn": "arn:aws:iam::" + "\u0661" * 12 + ":role/x"}, "is not a role ARN"),
        ({"role_arn": 42}, r"AssumeRole: role_arn=42 is not a role ARN"),
        ({"policy_arns": ["arn:aws:iam::aws:policy/p\u00f3licy"]}, "not a managed policy ARN"),
        (
            {"policy_arns": 5},
            r"policy_arns must be a list of at most 10 managed policy ARNs, not int",
        ),
        (
            {"policy_arns": "arn:aws:iam::aws:policy/x"},
            "policy_arns must be a list .* not one string",
        ),
        ({"policy": 42}, "policy must be a JSON string or a dict, not int"),
        ({"policy": {"Statement": {1, 2}}}, "policy cannot be written as JSON"),
        ({"policy": "[]"}, "policy is JSON but not a policy document: STS expects a JSON object"),
        (
            {"tags": "ab"},
            r"tags must be a mapping of key to value or \(key, value\) pairs, at most 50",
        ),
        ({"tags": 5}, r"tags must be a mapping .*, not int"),
        ({"tags": ["ab"]}, r"tags entry 'ab' is not a \(key, value\) pair"),
        ({"tags": [("team", "a", "b")]}, r"tags entry .* is not a \(key, value\) pair"),
        ({"tags": [("team", "a"), ("team", "b")]}, "tag key 'team' is given twice"),
        ({"tags": {"Team": "a", "team": "b"}}, "'Team' and 'team' differ only by case"),
        ({"tags": {"team": 1}}, "value of tag 'team' is invalid: 0-256 characters"),
        ({"transitive_tag_keys": 7}, "transitive_tag_keys must be a list of keys of this hop's"),
        ({"session_name": 42}, "session_name must be text of 2-64 characters .* not int"),
        ({"external_id": 42}, "external_id must be text of 2-1224 characters .* not int"),
        ({"source_identity": 42}, "source_identity must be text of 2-64 characters"),
    ],
)
def test_bad_input_is_refused_with_what_and_why(kwargs, message):
    kwargs = dict(kwargs)
    role_arn = kwargs.pop("role_arn", ARN)
    with pytest.raises(ConfigurationError, match=message) as info:
        AssumeRole(role_arn, **kwargs)
    assert isinstance(info.value, ValueError)


def test_tags_as_pairs_and_policies_as_any_mapping_are_accepted():
    hop = AssumeRole(ARN, tags=[("team", "data"), ["env", "prod"]], policy=MappingProxyType({}))
    assert hop.tags == (("env", "prod"), ("team", "data"))
    assert hop.policy == "{}"
    assert hop.with_duration("1h").tags == hop.tags


def test_36h_on_a_role_says_only_session_tokens_go_that_long():
    with pytest.raises(ConfigurationError) as info:
        AssumeRole(ARN, duration="36h")
    text = str(info.value)
    assert "129600 s (36h)" in text
    assert "900-43200 s (15m-12h)" in text
    assert "only session tokens" in text
    assert GetSessionToken(duration="36h").duration == 129600


def test_get_session_token_range():
    with pytest.raises(ConfigurationError, match="900-129600 s"):
        GetSessionToken(duration="37h")


def test_chained_hop_own_duration_over_an_hour_is_refused_at_construction():
    with pytest.raises(ConfigurationError) as info:
        RefreshableSession(
            AssumeRole(ARN, session_name="hop1"),
            AssumeRole("arn:aws:iam::222222222222:role/data", duration="2h"),
            source=STATIC,
        )
    text = str(info.value)
    assert "hop 2 of 2" in text
    assert "out of range: allowed 900-3600 s" in text
    assert "role chaining" in text


def test_session_duration_out_of_a_hops_range_is_refused_not_lowered():
    def chain(duration):
        return RefreshableSession(
            AssumeRole(ARN, session_name="hop1"),
            AssumeRole("arn:aws:iam::222222222222:role/data", session_name="hop2"),
            source=STATIC,
            duration=duration,
        )

    with pytest.raises(ConfigurationError) as info:
        chain("12h")
    text = str(info.value)
    assert "hop 2 of 2" in text
    assert "duration=43200 s (12h) is out of range: allowed 900-3600 s (15m-1h)" in text
    assert "pass duration='max' for each hop's longest" in text
    assert [link._duration for link in chain("max")._chain.links] == [43200, 3600]


def test_assume_role_after_get_session_token_is_role_chaining():
    # STS: "DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining"
    with pytest.raises(ConfigurationError) as info:
        RefreshableSession(
            GetSessionToken(mfa_serial=MFA_ARN, mfa_token=lambda: "123456"),
            AssumeRole(ARN, duration="2h"),
            source=STATIC,
        )
    text = str(info.value)
    assert "hop 2 of 2 (AssumeRole" in text
    assert "after GetSessionToken" in text
    assert "duration=7200 s (2h) is out of range: allowed 900-3600 s (15m-1h)" in text
    assert "role chaining" in text
    assert "mfa_serial=" in text


@pytest.mark.parametrize("duration", ["max"])
def test_max_or_session_wide_duration_after_get_session_token_plans_1h(duration):
    session = RefreshableSession(
        GetSessionToken(), AssumeRole(ARN, session_name="hop2"), source=STATIC, duration=duration
    )
    assert session._chain.links[1]._duration == 3600
    assert session._chain.links[1].chained


def test_mfa_on_the_assume_role_itself_allows_12h():
    session = RefreshableSession(
        AssumeRole(ARN, duration="12h", mfa_serial=MFA_ARN, mfa_token=lambda: "123456"),
        source=STATIC,
    )
    assert session._chain.links[0]._duration == 43200
    assert not session._chain.links[0].chained


def test_session_duration_beyond_every_operation_is_refused():
    with pytest.raises(ConfigurationError, match="out of range"):
        RefreshableSession(AssumeRole(ARN), source=STATIC, duration=600)


def test_get_session_token_must_be_first():
    with pytest.raises(ConfigurationError, match="must be the first hop"):
        RefreshableSession(AssumeRole(ARN), GetSessionToken(), source=STATIC)


def test_no_hops_and_wrong_objects_are_refused():
    with pytest.raises(ConfigurationError, match="at least one hop"):
        RefreshableSession(source=STATIC)
    with pytest.raises(ConfigurationError, match="hop 1 is a str"):
        RefreshableSession(ARN, source=STATIC)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="does not implement CredentialCache"):
        RefreshableSession(AssumeRole(ARN), source=STATIC, cache=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="source=int"):
        RefreshableSession(AssumeRole(ARN), source=3)  # type: ignore[arg-type]


def test_public_names_exist():
    for name in [
        "RefreshableSession",
        "AssumeRole",
        "GetSessionToken",
        "MemoryCache",
        "NoCache",
        "CredentialCache",
        "ConfigurationError",
        "RefreshError",
        "RefreshstsError",
    ]:
        assert hasattr(refreshsts, name)
    assert issubclass(refreshsts.ConfigurationError, refreshsts.RefreshstsError)
    assert issubclass(refreshsts.ConfigurationError, ValueError)


def test_a_missing_profile_is_a_configuration_error(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile real]\nregion = us-west-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(ConfigurationError, match=r"source='nobody': no such profile.*real"):
        RefreshableSession(AssumeRole(ARN), source="nobody")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"region": "us west"}, "region='us west' is not an AWS region name"),
        ({"region": "mars"}, "region='mars'"),
        ({"sts_endpoint_url": "sts.example.com"}, "is not an http"),
        ({"windows": 3}, "windows=int"),
        ({"sts_config": {"retries": 3}}, "sts_config=dict"),
        ({"region": "us-west-\u0662"}, "is not an AWS region name"),
    ],
)
def test_bad_session_options_are_refused(options, message):
    with pytest.raises(ConfigurationError, match=message):
        RefreshableSession(AssumeRole(ARN), source=STATIC, **options)


def test_regions_and_endpoints_that_exist_are_accepted():
    for region in ["us-west-2", "eu-central-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5"]:
        RefreshableSession(AssumeRole(ARN), source=STATIC, region=region)
    RefreshableSession(AssumeRole(ARN), source=STATIC, sts_endpoint_url="http://127.0.0.1:5000")


@pytest.mark.parametrize(
    "text",
    [
        "équipe",  # Latin-1 letter
        "データ",  # Katakana: \p{L}
        "Ωmega ١٢٣",  # Greek letter, space (\p{Z}), Arabic-Indic digits (\p{N})
        "½ⅫLevel",  # \p{No}, \p{Nl}
        "a\u00a0b\u2028c",  # no-break space (Zs) and line separator (Zl) are \p{Z}
        "k_.:/=+-@",
    ],
)
def test_tags_accept_what_sts_pattern_accepts(text):
    hop = AssumeRole(ARN, tags={text: text})
    assert hop.tags == ((text, text),)


@pytest.mark.parametrize(
    ("text", "offender"),
    [
        ("a\nb", "U+000A"),
        ("a\tb", "U+0009"),
        ("a\rb", "U+000D"),
        ("a\x0bb", "U+000B"),
        ("a\x1fb", "U+001F"),
        ("a\x85b", "U+0085"),
        ("a\u200bb", "U+200B"),  # zero-width space is Cf, not \p{Z}
        ("a!b", "U+0021"),
        ("a\ud800b", "U+D800"),
    ],
)
def test_tags_refuse_what_sts_pattern_refuses(text, offender):
    offender = re.escape(offender)
    with pytest.raises(ConfigurationError, match=f"tag key .* is invalid: .*{offender}"):
        AssumeRole(ARN, tags={text: "v"})
    with pytest.raises(ConfigurationError, match=f"value of tag 'k' is invalid: .*{offender}"):
        AssumeRole(ARN, tags={"k": text})


@pytest.mark.parametrize(
    "policy",
    [
        '{"Version":"2012-10-17",\t"Statement":[]}',
        '{\r\n  "Sid": "caf\u00e9 \u00ff"\n}',
        {"Sid": "€ データ"},  # a dict is written with \uXXXX escapes
    ],
)
def test_session_policy_accepts_tab_newlines_and_latin_1(policy):
    assert AssumeRole(ARN, policy=policy).policy


@pytest.mark.parametrize(
    ("policy", "offender"),
    [
        ('{"Sid": "\u20ac"}', "U+20AC"),
        ('{"Sid": "\u0100"}', "U+0100"),
        ('{"Sid": "\U0001f600"}', "U+1F600"),
        ('{"Sid": "x"}\x00', "U+0000"),
        ('{"Sid":\x0b"x"}', "U+000B"),
        ('{"Sid":\x1f"x"}', "U+001F"),
    ],
)
def test_session_policy_refuses_what_sts_pattern_refuses(policy, offender):
    with pytest.raises(ConfigurationError, match=f"policy holds {re.escape(offender)} .* at "):
        AssumeRole(ARN, policy=policy)
    with pytest.raises(ConfigurationError, match="U\\+0020-U\\+00FF"):
        GetFederationToken("fed-user", policy=policy)


def test_every_region_in_botocores_partitions_is_accepted():
    regions = list(known_regions())
    assert {"eusc-de-east-1", "us-iso-east-1", "aws-global", "cn-north-1"} <= set(regions)
    for region in regions:
        assert check_region(region) == region
    RefreshableSession(AssumeRole(ARN), source=STATIC, region="eusc-de-east-1")


@pytest.mark.parametrize("region", ["eusc-fr-east-1", "zz-north-1", "us-east-1\n", "US-EAST-1"])
def test_regions_of_no_partition_are_refused(region):
    with pytest.raises(ConfigurationError, match="aws-eusc"):
        RefreshableSession(AssumeRole(ARN), source=STATIC, region=region)
