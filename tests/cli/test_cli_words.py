"""The command as a newcomer meets it: flag words in errors, -v anywhere, --profile, timeouts,
durations that are refused instead of lowered, and no MFA prompt without a terminal."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from cli_helpers import PROFILE, role_args

from refreshsts.cli import main
from refreshsts.cli._words import in_cli_words

ARN = "arn:aws:iam::123456789012:role/r"
MFA = "arn:aws:iam::123456789012:mfa/alice"
MAX_SESSION = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


@pytest.fixture(autouse=True)
def _own_cache_home(cache_home):
    """`main()` runs in this process: keep its default FileCache out of the real home."""


@pytest.fixture
def hanging_sts(monkeypatch: pytest.MonkeyPatch, refusing_sts) -> Iterator[str]:
    """An STS URL whose listener accepts connections (in its backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url)
        yield url


def test_errors_name_flags_not_keyword_arguments(capsys, refusing_sts):
    assert main(["whoami", "--role-arn", ARN, "--source-profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert "refreshsts: error: --source-profile nope: no such profile" in err
    assert "source=" not in err
    assert main(["whoami", "--role-arn", ARN, "--session-name", "a b", "--no-cache"]) == 2
    assert f"--role-arn {ARN}: --session-name 'a b' is invalid" in capsys.readouterr().err
    assert main(["whoami", "--role-arn", "nope", "--no-cache"]) == 2
    assert "refreshsts: error: --role-arn nope is not a role ARN" in capsys.readouterr().err
    assert main(["whoami", "--role-arn", ARN, "--region", "moon", "--no-cache"]) == 2
    assert "--region moon is not an AWS region name" in capsys.readouterr().err
    assert main(["whoami", "--from-profile", "nope", "--no-cache"]) == 2
    assert "--from-profile nope: no such profile" in capsys.readouterr().err
    assert refusing_sts == []


def test_profile_is_the_aws_cli_spelling_of_source_profile(capsys, refusing_sts):
    assert main(["whoami", "--role-arn", ARN, "--profile", "nope", "--no-cache"]) == 2
    assert "--source-profile nope: no such profile" in capsys.readouterr().err


def test_verbose_is_accepted_after_the_command(capsys, refusing_sts):
    argv = ["credential-process", "--role-arn", ARN, "--no-cache", "--region", "us-east-1"]
    assert main(argv) == 1
    quiet = capsys.readouterr().err
    assert main([*argv, "-v"]) == 1
    verbose = capsys.readouterr().err
    assert "INFO: refreshing hop 1 of 1" not in quiet
    assert "INFO: refreshing hop 1 of 1" in verbose
    assert main(["cache", "list", "-v"]) == 0
    for err in (quiet, verbose):
        assert "next attempt in" not in err, "no promise of a retry from a command that exits"
        assert "AccessDenied) when calling the AssumeRole operation: refused by the test" in err


def test_an_explicit_duration_out_of_range_exits_2_before_any_call(capsys, refusing_sts):
    argv = ["credential-process", "--role-arn", ARN, "--no-cache", "--region", "us-east-1"]
    assert main([*argv, "--duration", "36h"]) == 2
    err = capsys.readouterr().err
    assert "--duration 129600 s (36h) is out of range: allowed 900-43200 s (15m-12h)" in err
    assert "pass --duration max for each hop's longest" in err
    assert main([*argv, "--role-arn", ARN, "--duration", "12h"]) == 2
    assert "hop 2 of 2" in capsys.readouterr().err
    assert refusing_sts == []


def test_in_cli_words_leaves_other_text_alone():
    text = "AccessDenied: User: arn:aws:iam::1:user/u is not authorized (RoleSessionName=x)"
    assert in_cli_words(text) == text


@pytest.mark.parametrize("value", ["0", "-1", "301", "soon"])
def test_timeout_is_validated(capsys, value):
    assert main(["whoami", "--role-arn", ARN, "--timeout", value]) == 2
    assert "argument --timeout" in capsys.readouterr().err


def test_a_hanging_sts_is_reported_per_attempt_and_bounded_by_timeout(capsys, hanging_sts):
    argv = ["credential-process", "--role-arn", ARN, "--no-cache", "--region", "us-east-1"]
    started = time.monotonic()
    assert main([*argv, "--timeout", "0.5"]) == 1
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert elapsed < 10, "3 attempts of 0.5 s and botocore's short pauses between them"
    assert (
        f"waiting for STS at {hanging_sts}/ (attempt 2/3): attempt 1 failed (ReadTimeoutError)"
        in err
    )
    assert f"waiting for STS at {hanging_sts}/ (attempt 3/3): attempt 2 failed" in err
    assert "ReadTimeoutError" in err
    assert "next attempt in" not in err


def test_a_slow_sts_is_announced_while_the_command_waits(world, proxied_aws_env, sts_proxy, cli):
    sts_proxy.set_delay(4.0, action="AssumeRole")
    done = cli("credential-process", *role_args(world, "--no-cache"))
    assert done.returncode == 0, done.stderr
    assert f"refreshsts: waiting for STS at {sts_proxy.url}/ (attempt 1/3)" in done.stderr


def test_max_steps_down_and_says_so_by_default(world, proxied_aws_env, sts_proxy, cli):
    sts_proxy.inject(("error", "ValidationError", MAX_SESSION, 400))
    done = cli("credential-process", *role_args(world, "--no-cache", "--duration", "max"))
    assert done.returncode == 0, done.stderr
    asked = [record.params["DurationSeconds"] for record in sts_proxy.records("AssumeRole")]
    assert asked == ["43200", "3600"]
    assert "STS refused 12h" in done.stderr and "asking for 1h from now on" in done.stderr


def test_36h_on_assume_role_is_refused_with_exit_2(world, proxied_aws_env, sts_proxy, cli):
    done = cli("credential-process", *role_args(world, "--duration", "36h"))
    assert done.returncode == 2
    assert "--duration 129600 s (36h) is out of range" in done.stderr
    assert sts_proxy.calls("AssumeRole") == 0


def test_an_mfa_role_without_a_terminal_fails_at_once_without_a_prompt(
    world, proxied_aws_env, sts_proxy, cli
):
    proxied_aws_env.add_config(
        f"[profile mfa]\nrole_arn = {world.role_arn}\nsource_profile = {PROFILE}\n"
        f"mfa_serial = {MFA}\nregion = us-west-2\n"
    )
    started = time.monotonic()
    done = cli("credential-process", "--from-profile", "mfa", stdin=subprocess.DEVNULL)
    assert time.monotonic() - started < 20
    assert done.returncode == 1
    assert "could not refresh hop 1 of 1" in done.stderr
    assert f"needs an MFA code for {MFA} and there is no terminal" in done.stderr
    assert "run refreshsts in a terminal" in done.stderr
    for noise in ("Warning", "Enter MFA code", "EOFError"):
        assert noise not in done.stderr
    assert sts_proxy.calls("AssumeRole") == 0
