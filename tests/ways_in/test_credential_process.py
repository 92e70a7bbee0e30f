"""CredentialProcess: a credential_process command as a source, cached like a hop."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import pickle
import sys
import time

import pytest
import redis
import time_machine
from botocore.compat import compat_shell_split
from botocore.exceptions import ClientError

from fixtures.credential_process import (
    CountingProcess,
    list_bucket_in_a_new_process,
    rfc3339,
    version1,
)
from refreshsts import (
    AccountRoles,
    AssumeRole,
    BackgroundRefresh,
    ConfigurationError,
    CredentialProcess,
    FileCache,
    GetSessionToken,
    MemoryCache,
    NoCache,
    RedisCache,
    RefreshableSession,
    RefreshError,
    credential_process,
    generate_key,
    set_default_cache,
)
from refreshsts._temporary import TemporaryCredentials
from refreshsts.credential_process import CredentialProcessFailed

ROLE = "arn:aws:iam::123456789012:role/reader"


@pytest.fixture
def process(tmp_path):
    return CountingProcess(tmp_path / "process")


def cached(source, cache):
    """The credentials of a session with no hops of its own on `source`, caching in `cache`."""
    return RefreshableSession(source=source, cache=cache).get_credentials()


def fetched(process, cache=None):
    """What a new CredentialProcess (as in a new process) gets through `cache`."""
    return cached(CredentialProcess(process.argv), cache or NoCache()).get_temporary_credentials()


# -- the command and its output ------------------------------------------------------------


def test_the_command_line_is_split_as_botocore_splits_credential_process():
    line = """/opt/bin/helper --profile 'my role' --flag="a b" plain\\ word"""
    assert CredentialProcess(line).argv == tuple(compat_shell_split(line))
    assert CredentialProcess(line).argv[2:] == ("my role", "--flag=a b", "plain word")
    assert CredentialProcess(["helper", "a b"]).argv == ("helper", "a b")


@pytest.mark.parametrize(
    ("command", "timeout", "message"),
    [
        ("", 60, "the command is empty"),
        ("   ", 60, "the command is empty"),
        ([], 60, "the command is empty"),
        (["helper", 3], 60, "every word of the command must be text, not int"),
        (b"helper", 60, "must be text .* not bytes"),
        (None, 60, "must be text .* not NoneType"),
        ("helper 'unclosed", 60, "cannot be split into words"),
        ("helper", 0, r"timeout=0 must be a number of seconds above 0 and at most 3600"),
        ("helper", 3601, "timeout=3601"),
        ("helper", True, "timeout=True"),
        ("helper", "60", "timeout='60'"),
    ],
)
def test_bad_input_is_a_configuration_error_before_anything_runs(command, timeout, message):
    with pytest.raises(ConfigurationError, match=message):
        CredentialProcess(command, timeout=timeout)


def test_version_1_json_becomes_credentials(process):
    output = version1("ASIAONE", "secret-one", "token-one", account_id="123456789012")
    process.answer(output, expires_in=3600)
    creds = fetched(process)
    assert (creds.access_key_id, creds.secret_access_key) == ("ASIAONE", "secret-one")
    assert (creds.session_token, creds.account_id) == ("token-one", "123456789012")
    assert 3590 < creds.seconds_left() <= 3600
    assert process.runs == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Version": 2}, r"printed Version 2; only Version 1"),
        ({"Version": "1"}, r"printed Version a str; only Version 1"),
        ({"Version": True}, r"printed Version a bool"),
        ({"AccessKeyId": None}, "printed no text for AccessKeyId"),
        ({"SecretAccessKey": ""}, "printed no text for SecretAccessKey"),
        ({"SessionToken": 5}, "printed no text for SessionToken"),
        ({"Expiration": "next tuesday-ish"}, "an Expiration that is not an RFC 3339"),
        ({"Expiration": 1700000000}, "an Expiration that is not an RFC 3339"),
        ({"Expiration": "2020-01-01T00:00:00Z"}, "credentials that expired at 2020-01-01"),
    ],
)
def test_malformed_output_is_a_clear_refresh_error_without_secrets(process, change, message):
    secrets = (process.output["SecretAccessKey"], process.output["SessionToken"])
    output = {**process.output, **change}
    process.answer({k: v for k, v in output.items() if v is not None})
    with pytest.raises(RefreshError, match=message) as raised:
        fetched(process)
    assert raised.value.hop == 0
    assert not [secret for secret in secrets if secret in str(raised.value)]


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (b"AccessKeyId=ASIA secret=process-secret-x", "did not print JSON .*line 1 column 1"),
        (b'["process-secret-x"]', "printed a JSON list, not an object"),
        (b"\xff\xfeprocess-secret-x", "not UTF-8"),
    ],
)
def test_output_that_is_no_json_object_is_never_quoted(monkeypatch, stdout, message):
    source = CredentialProcess("helper")
    monkeypatch.setattr(source, "_run", lambda: stdout)
    with pytest.raises(RefreshError, match=message) as raised:
        source.fetch()
    assert "process-secret-x" not in str(raised.value)


def test_a_failing_command_names_its_exit_status_and_stderr_never_stdout(process):
    process.answer(stderr="okta: session expired, sign in again\n", exit=3)
    source = CredentialProcess(process.argv)
    with pytest.raises(CredentialProcessFailed) as raised:
        source.credentials().get_frozen_credentials()
    text = str(raised.value)
    assert "exited with status 3: okta: session expired, sign in again" in text
    assert (raised.value.returncode, raised.value.hop) == (3, 0)
    assert process.output["SecretAccessKey"] not in text
    assert isinstance(raised.value, RefreshError)


def test_only_the_end_of_a_long_stderr_is_quoted(process):
    process.answer(stderr="noise " * 2000 + "THE REAL ERROR", exit=1)
    with pytest.raises(RefreshError, match=r"status 1: \.\.\..*THE REAL ERROR$") as raised:
        fetched(process)
    assert len(str(raised.value)) < 2300


def test_a_missing_program_is_a_refresh_error(tmp_path):
    with pytest.raises(RefreshError, match="could not start: No such file or directory"):
        CredentialProcess([str(tmp_path / "nowhere")]).fetch()


def test_a_hung_command_is_stopped_after_the_timeout_even_when_its_child_holds_the_pipe():
    # the background sleep keeps stdout open after the shell is killed
    source = CredentialProcess(["sh", "-c", "sleep 5 & exec sleep 5"], timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RefreshError, match=r"did not finish within 0.3 s and was stopped"):
        source.fetch()
    assert time.monotonic() - started < 3


def test_a_timeout_stops_what_the_command_started_too(tmp_path, monkeypatch):
    monkeypatch.setattr(credential_process, "_has_terminal", lambda: False, raising=False)
    pid_file = tmp_path / "grandchild"
    source = CredentialProcess(["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"], timeout=0.5)
    with pytest.raises(RefreshError, match=r"did not finish within 0.5 s and was stopped"):
        source.fetch()
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while _running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(grandchild), "the command's own child outlived the timeout"


def _running(pid):
    """Whether `pid` runs and is not a zombie waiting for its (reaped) parent's reaper."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_command_printing_without_end_is_stopped_at_1_mib():
    source = CredentialProcess(["sh", "-c", "yes process-secret-x"], timeout=30)
    started = time.monotonic()
    with pytest.raises(RefreshError, match=r"printed more than 1024 KiB and was stopped") as raised:
        source.fetch()
    assert time.monotonic() - started < 10
    assert "process-secret-x" not in str(raised.value)


def test_keys_that_expire_while_the_command_runs_are_refused(process):
    expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    process.answer(expiration=rfc3339(expiration), sleep=3)
    with pytest.raises(RefreshError, match="printed credentials that expired at") as raised:
        cached(CredentialProcess(process.argv), NoCache()).get_frozen_credentials()
    assert raised.value.hop == 0


# -- caching -----------------------------------------------------------------------------


def test_processes_sharing_a_file_cache_run_the_command_once(process, tmp_path):
    cache = FileCache(tmp_path / "cache")
    first = fetched(process, cache)
    for _ in range(5):
        again = fetched(process, FileCache(tmp_path / "cache"))
        assert (again.secret_access_key, again.expiration) == (
            first.secret_access_key,
            first.expiration,
        )
    assert process.runs == 1
    assert process.output["SecretAccessKey"] not in "".join(
        path.name for path in (tmp_path / "cache").iterdir()
    )


def test_an_entry_serves_new_processes_until_its_advisory_window_and_never_expired(
    process, tmp_path
):
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    expiry = start + dt.timedelta(hours=1)
    process.answer(expiration=rfc3339(expiry))
    with time_machine.travel(start, tick=False) as clock:
        assert fetched(process, FileCache(tmp_path / "c")).expiration == expiry.timestamp()
        clock.move_to(start + dt.timedelta(minutes=44))
        assert fetched(process, FileCache(tmp_path / "c")).expiration == expiry.timestamp()
        assert process.runs == 1, "44 min into 1 h: before the 15 min advisory window"
        clock.move_to(expiry + dt.timedelta(seconds=1))
        later = expiry + dt.timedelta(hours=1)
        process.answer(expiration=rfc3339(later))
        assert fetched(process, FileCache(tmp_path / "c")).expiration == later.timestamp()
    assert process.runs == 2, "the expired entry was not served; the command ran"


def test_inside_the_advisory_window_the_command_runs_again(process, tmp_path):
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    process.answer(expiration=rfc3339(start + dt.timedelta(hours=1)))
    with time_machine.travel(start, tick=False) as clock:
        fetched(process, FileCache(tmp_path / "c"))
        clock.move_to(start + dt.timedelta(minutes=46))
        process.answer(expiration=rfc3339(start + dt.timedelta(hours=2)))
        creds = fetched(process, FileCache(tmp_path / "c"))
    assert process.runs == 2
    assert creds.expiration == (start + dt.timedelta(hours=2)).timestamp()


def test_without_expiration_the_keys_last_the_process_and_are_never_cached(process, tmp_path):
    process.answer(version1("AKIAUSERKEY", "user-secret"))  # no Expiration
    memory = MemoryCache()
    source = CredentialProcess(process.argv)
    creds = cached(source, memory)
    for _ in range(3):
        assert creds.get_frozen_credentials().access_key == "AKIAUSERKEY"
    assert process.runs == 1, "held by the process, like botocore's static keys"
    assert len(memory) == 0, "nor in memory, where another session could read them"
    fetched(process, FileCache(tmp_path / "c"))
    assert not list((tmp_path / "c").glob("*.json")), "long-term keys never go to disk"
    assert process.runs == 2


def test_the_cache_key_names_command_program_user_and_host_and_no_secret(
    process, monkeypatch, tmp_path
):
    source = CredentialProcess(process.argv)
    key = source.cache_key()
    assert key == CredentialProcess(process.line).cache_key()
    assert key != CredentialProcess([*process.argv, "--other"]).cache_key()
    monkeypatch.setattr("os.geteuid", lambda: 4242)
    assert source.cache_key() != key
    monkeypatch.undo()
    monkeypatch.setattr("socket.gethostname", lambda: "another-host")
    assert source.cache_key() != key
    monkeypatch.undo()
    (tmp_path / "bin").mkdir()
    helper = tmp_path / "bin" / "helper"
    helper.write_text("#!/bin/sh\n")
    helper.chmod(0o700)
    by_name = CredentialProcess("helper")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    on_path = by_name.cache_key()
    monkeypatch.setenv("PATH", "/nonexistent")
    assert by_name.cache_key() != on_path, "another program of the same name is another key"


def test_a_tampered_or_transplanted_sealed_entry_is_not_served(process, tmp_path, caplog):
    key = generate_key()
    first = fetched(process, FileCache(tmp_path / "c", key=key))
    (entry,) = (tmp_path / "c").glob("*.json")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 1
    entry.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="refreshsts"):
        again = fetched(process, FileCache(tmp_path / "c", key=key))
    assert process.runs == 2
    assert again.issued > first.issued
    assert "not trusting cache file" in caplog.text
    # an entry of another command, copied under this command's name, does not open either
    other = CountingProcess(tmp_path / "other")
    fetched(other, FileCache(tmp_path / "c", key=key))
    (theirs,) = set((tmp_path / "c").glob("*.json")) - {entry}
    entry.write_bytes(theirs.read_bytes())
    served = fetched(process, FileCache(tmp_path / "c", key=key))
    assert served.secret_access_key == process.output["SecretAccessKey"]
    assert process.runs == 3


def test_an_entry_others_may_write_is_not_served(process, tmp_path):
    fetched(process, FileCache(tmp_path / "c"))
    (entry,) = (tmp_path / "c").glob("*.json")
    entry.chmod(0o666)
    fetched(process, FileCache(tmp_path / "c"))
    assert process.runs == 2


def test_an_unsealed_shared_cache_is_refused_for_the_command(process, redis_url, isolated_aws):
    # Its key is a digest of public facts: a Redis writer could plant keys the session uses.
    unsealed = RedisCache(redis_url, encrypt=False)
    with pytest.raises(ConfigurationError, match=r"cache=RedisCache\(.*encrypted=False\) is ") as e:
        RefreshableSession(AssumeRole(ROLE), source=CredentialProcess(process.argv), cache=unsealed)
    assert "could plant credentials for credential_process" in str(e.value)
    assert "REFRESHSTS_CACHE_KEY" in str(e.value)
    set_default_cache(unsealed)
    try:
        with pytest.raises(ConfigurationError, match="is unsealed and may be shared"):
            RefreshableSession(source=CredentialProcess(process.argv))
    finally:
        set_default_cache(None)
    assert process.runs == 0
    RefreshableSession(AssumeRole(ROLE), cache=unsealed)  # an STS hop: its key holds a proof


def test_entries_planted_in_a_sealed_shared_cache_are_not_served(process, redis_url):
    key = generate_key()
    assert (
        fetched(process, RedisCache(redis_url, key=key)).secret_access_key
        == (process.output["SecretAccessKey"])
    )
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    planted = TemporaryCredentials("ASIAPLANTED", "planted", "t", now + 3600, issued=now)
    RedisCache(redis_url, encrypt=False, namespace="attacker").set("0" * 64, planted)
    (forged,) = [client.get(name) for name in client.scan_iter("attacker:entry:*")]
    victims = list(client.scan_iter("refreshsts:entry:*"))
    assert victims
    for name in victims:
        client.set(name, forged, keepttl=True)
    assert fetched(process, RedisCache(redis_url, key=key)).access_key_id != "ASIAPLANTED"
    assert process.runs == 2


# -- as a source ------------------------------------------------------------------------


def test_repr_label_and_pickle_hold_no_secret_and_rebuild_the_command(process, isolated_aws):
    long_line = process.line + " --client-id " + "x" * 100
    source = CredentialProcess(long_line, timeout=12)
    assert repr(source).startswith("CredentialProcess('python")
    assert "x" * 100 not in repr(source) and "[args sha256:" in repr(source)
    fetched_source = CredentialProcess(process.argv)
    secret = fetched_source.credentials().get_frozen_credentials().secret_key
    session = RefreshableSession(AssumeRole(ROLE), source=fetched_source, region="us-east-1")
    data = pickle.dumps(session)
    assert secret.encode() not in data and secret not in repr(session)
    rebuilt = pickle.loads(data)
    assert isinstance(rebuilt.source, CredentialProcess)
    assert rebuilt.source.argv == tuple(process.argv)
    copy = pickle.loads(pickle.dumps(source))
    assert (copy.command, copy.timeout) == (long_line, 12.0)


def test_a_token_in_the_command_line_never_reaches_repr_logs_errors_or_events(
    process, isolated_aws, caplog
):
    token = "hvs.CAESIsecret" + os.urandom(6).hex()
    argv = [*process.argv, "--token", token]
    source = CredentialProcess(argv)
    assert source.label == CredentialProcess(list(argv)).label
    assert source.label != CredentialProcess([*process.argv, "--token", "other"]).label
    assert source.label.startswith(f"credential_process {os.path.basename(sys.executable)} [args")
    events = []
    session = RefreshableSession(AssumeRole(ROLE), source=source, cache=NoCache())
    session.add_listener(events.append)
    process.answer(stderr="vault: permission denied\n", exit=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(RefreshError) as raised:
        session.get_credentials().get_frozen_credentials()
    with pytest.raises(ConfigurationError) as unsplit:
        CredentialProcess(f"vault-creds --token {token} 'unclosed")
    short = CredentialProcess(["vault-creds", "--token", token], profile=None)
    assert short.label.startswith("credential_process vault-creds [args sha256:")
    shown = [
        repr(short),
        short.label,
        repr(source),
        str(source),
        repr(session),
        str(raised.value),
        repr(raised.value),
        str(unsplit.value),
        caplog.text,
        *(repr(event) for event in events),
        *(repr(status) for status in session.status()),
    ]
    assert events and "vault: permission denied" in str(raised.value)
    assert [text for text in shown if token in text] == []


def test_the_session_error_of_a_failing_command_carries_its_stderr(process, isolated_aws):
    process.answer(stderr="saml2aws: MFA was denied\n", exit=1)
    session = RefreshableSession(
        AssumeRole(ROLE), source=CredentialProcess(process.argv), cache=NoCache()
    )
    with pytest.raises(RefreshError, match="exited with status 1: saml2aws: MFA was denied") as e:
        session.get_credentials().get_frozen_credentials()
    assert e.value.hop == 0


def test_profiles_with_credential_process_become_the_source(isolated_aws, process):
    isolated_aws.write_text(
        f"[profile proc]\ncredential_process = {process.line}\nregion = eu-west-1\n"
        f"[profile role]\nrole_arn = {ROLE}\nsource_profile = proc\n"
        "[profile keys-first]\naws_access_key_id = AKIAKEYS\naws_secret_access_key = s\n"
        f"credential_process = {process.line}\n"
    )
    session = RefreshableSession.from_profile("role")
    assert isinstance(session.source, CredentialProcess)
    assert session.source.argv == tuple(process.argv)
    assert session.source.label.endswith("of profile 'proc'")
    direct = RefreshableSession(AssumeRole(ROLE), source="proc")
    assert isinstance(direct.source, CredentialProcess)
    assert direct.region_name == "eu-west-1"
    kept = RefreshableSession(AssumeRole(ROLE), source="keys-first")
    assert not isinstance(kept.source, CredentialProcess), "keys come first, as in botocore"
    isolated_aws.write_text("[profile bad]\ncredential_process = helper 'open\n")
    with pytest.raises(ConfigurationError, match=r"profile 'bad'.*cannot be split"):
        RefreshableSession(AssumeRole(ROLE), source="bad")
    with pytest.raises(ConfigurationError, match="profile='nope': no such profile"):
        CredentialProcess("helper", profile="nope")
    assert process.runs == 0, "nothing runs before the first request"


# -- against the moto server --------------------------------------------------------------


def test_a_chain_signed_by_the_process_reads_s3_and_caches_both_hops(
    world, proxied_aws_env, sts_proxy, process, tmp_path
):
    process.answer(version1(world.access_key_id, world.secret_access_key), expires_in=3600)
    proxied_aws_env.add_config(
        f"[profile proc]\ncredential_process = {process.line}\n"
        f"[profile reader]\nrole_arn = {world.role_arn}\nsource_profile = proc\n"
        "region = us-west-2\n"
    )
    for _ in range(3):
        session = RefreshableSession.from_profile("reader", cache=FileCache(tmp_path / "c"))
        listing = session.client("s3").list_objects_v2(Bucket=world.bucket)
        assert [item["Key"] for item in listing["Contents"]] == [world.object_key]
        with pytest.raises(session.client("s3").exceptions.ClientError, match="AccessDenied"):
            session.client("s3").put_object(Bucket=world.bucket, Key="x", Body=b"x")
    assert process.runs == 1
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id]
    assert sts_proxy.calls("GetCallerIdentity") == 0, "the command line names the root"


def test_keys_the_process_rotates_make_a_new_assume_role(
    world, proxied_aws_env, sts_proxy, process, moto_server
):
    with moto_server.admin():
        second = moto_server.admin_client("iam").create_access_key(UserName=world.user_name)
    moto_server.auth_on()
    process.answer(version1(world.access_key_id, world.secret_access_key), expires_in=3600)
    source = CredentialProcess(process.argv)
    cache = MemoryCache()
    session = RefreshableSession(AssumeRole(world.role_arn), source=source, cache=cache)
    session.client("s3").list_objects_v2(Bucket=world.bucket)
    key = second["AccessKey"]
    process.answer(version1(key["AccessKeyId"], key["SecretAccessKey"]), expires_in=3600)
    session.hop_credentials[0].refresh()  # the new keys go to the shared cache
    other = RefreshableSession(AssumeRole(world.role_arn), source=source, cache=cache)
    other.client("s3").list_objects_v2(Bucket=world.bucket)
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id, key["AccessKeyId"]]


@pytest.mark.slow
def test_20_new_processes_with_a_file_cache_run_the_command_once(
    world, proxied_aws_env, sts_proxy, process, tmp_path, monkeypatch
):
    process.answer(version1(world.access_key_id, world.secret_access_key), expires_in=3600)
    # Python 3.11's forkserver preloads with the PYTHONPATH it starts with, not sys.path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path for path in sys.path if path))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["fixtures.warmed", "fixtures.credential_process"])
    env = dict(proxied_aws_env.env)
    env["PATH"] = "/usr/bin:/bin"
    args = (env, process.argv, world.role_arn, world.bucket, str(tmp_path / "c"))
    started = time.monotonic()
    with context.Pool(1, maxtasksperchild=1) as pool:
        for _ in range(20):
            assert pool.apply(list_bucket_in_a_new_process, args) == [world.object_key]
    elapsed = time.monotonic() - started
    assert process.runs == 1
    assert sts_proxy.calls("AssumeRole") == 1
    assert sts_proxy.calls(f"GET /{world.bucket}") == 20
    print(f"20 processes in {elapsed:.1f} s", file=sys.stderr)


def test_its_botocore_session_signs_with_the_printed_keys(world, proxied_aws_env, process):
    process.answer(version1(world.access_key_id, world.secret_access_key), expires_in=3600)
    source = CredentialProcess(process.argv)
    s3 = source.botocore_session.create_client("s3", region_name="us-west-2")
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.list_objects_v2(Bucket=world.bucket)
    assert process.runs == 1


def test_account_roles_take_it_as_their_source(world, proxied_aws_env, sts_proxy, process):
    process.answer(version1(world.access_key_id, world.secret_access_key), expires_in=3600)
    template = world.role_arn.replace(f"::{world.account_id}:", "::{account}:")
    roles = AccountRoles(template, source=CredentialProcess(process.argv), region="us-west-2")
    for _ in range(2):
        s3 = roles.session(world.account_id).client("s3")
        assert s3.list_objects_v2(Bucket=world.bucket)["KeyCount"] == 1
    assert process.runs == 1
    assert sts_proxy.signers("AssumeRole") == [world.access_key_id]
    rebuilt = pickle.loads(pickle.dumps(roles))
    assert rebuilt.session(world.account_id).client("s3").list_objects_v2(Bucket=world.bucket)
    assert process.runs == 1, "the rebuilt source finds the output in the default cache"


def test_callers_wait_as_long_as_the_command_may_run(isolated_aws):
    assert CredentialProcess("helper", timeout=100).credentials()._wait_timeout == 210
    assert CredentialProcess("helper", timeout=5).credentials()._wait_timeout == 30
    session = RefreshableSession(
        AssumeRole(ROLE),
        source=CredentialProcess("helper", timeout=2000),
        refresh=BackgroundRefresh(wait_timeout=20, prefetch=False),
    )
    run, assume = session.hop_credentials
    assert (run._wait_timeout, run._strategy.prefetch) == (3600, False)
    assert assume._wait_timeout == 20, "only the command's hop waits longer"


def test_sessions_with_different_caches_on_one_source_each_use_their_own(process, tmp_path):
    source = CredentialProcess(process.argv)
    first, second = MemoryCache(), FileCache(tmp_path / "c")
    cached(source, first).get_frozen_credentials()
    cached(source, second).get_frozen_credentials()
    assert len(first) == 1
    assert len(list((tmp_path / "c").glob("*.json"))) == 1, "not the first session's cache"
    assert process.runs == 2


def test_the_status_of_a_session_shows_the_command_as_its_first_hop(process, isolated_aws):
    session = RefreshableSession(
        AssumeRole(ROLE), source=CredentialProcess(process.argv), cache=NoCache()
    )
    run = session.hop_credentials[0]
    run.get_frozen_credentials()
    status = session.status()
    assert len(status) == 2
    assert status[0].label.startswith("hop 1 of 2 (credential_process ")
    assert (status[0].hop, status[0].refresh_count, status[1].expiration) == (1, 1, None)
    link = session._chain.links[0]
    assert (link._client, link._waiting_client) == (None, None), "no STS client: it calls none"


def test_an_iam_users_keys_from_a_command_may_sign_get_session_token(process, isolated_aws):
    session = RefreshableSession(
        GetSessionToken(), source=CredentialProcess(process.argv), duration="12h"
    )
    assert [state.label for state in session.status()][1].startswith("hop 2 of 2 (GetSession")
